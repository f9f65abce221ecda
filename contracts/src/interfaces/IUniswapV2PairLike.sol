// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

/// @notice The part of a Uniswap V2-style pair (Uniswap V2, SushiSwap and their forks) the
/// executor talks to. Written here from the public ABI; no upstream source is copied.
interface IUniswapV2PairLike {
    function token0() external view returns (address);

    function token1() external view returns (address);

    function getReserves() external view returns (uint112 reserve0, uint112 reserve1, uint32 blockTimestampLast);

    function swap(uint256 amount0Out, uint256 amount1Out, address to, bytes calldata data) external;
}
