// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

/// @notice The part of a Uniswap V3-style pool the executor talks to (public ABI, our words).
interface IUniswapV3PoolLike {
    function token0() external view returns (address);

    function token1() external view returns (address);

    /// @return amount0 the pool's balance change of token0 (positive: the pool receives)
    /// @return amount1 the pool's balance change of token1
    function swap(
        address recipient,
        bool zeroForOne,
        int256 amountSpecified,
        uint160 sqrtPriceLimitX96,
        bytes calldata data
    ) external returns (int256 amount0, int256 amount1);
}

/// @notice The callback a V3-style pool makes on its caller in the middle of `swap`.
interface IUniswapV3SwapCallbackLike {
    function uniswapV3SwapCallback(int256 amount0Delta, int256 amount1Delta, bytes calldata data) external;
}
