// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

// Test-only: calls a real Uniswap V3 pool's swap with any amount (exact in > 0, exact out < 0)
// and price limit, and pays the pool from the caller's approved balance in the callback.
// Compiled by tests/contracts/test_v3_differential.py at run time (not a committed artifact).

interface IERC20Pay {
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
}

interface IV3PoolSwap {
    function token0() external view returns (address);

    function token1() external view returns (address);

    function swap(address recipient, bool zeroForOne, int256 amountSpecified, uint160 sqrtPriceLimitX96, bytes calldata data)
        external
        returns (int256 amount0, int256 amount1);

    function slot0() external view returns (uint160, int24, uint16, uint16, uint16, uint8, bool);
}

contract V3SwapProbe {
    function swap(address pool, bool zeroForOne, int256 amountSpecified, uint160 sqrtPriceLimitX96) external {
        IV3PoolSwap(pool).swap(msg.sender, zeroForOne, amountSpecified, sqrtPriceLimitX96, abi.encode(msg.sender));
    }

    /// Swap as far as the price limit allows (meant for eth_call) and return the pool's price
    /// and tick after it: the tick the pool's own tick math gives the limit price.
    function swapTo(address pool, bool zeroForOne, uint160 sqrtPriceLimitX96) external returns (uint160, int24) {
        IV3PoolSwap(pool).swap(msg.sender, zeroForOne, type(int128).max, sqrtPriceLimitX96, abi.encode(msg.sender));
        (uint160 price, int24 tick,,,,,) = IV3PoolSwap(pool).slot0();
        return (price, tick);
    }

    function uniswapV3SwapCallback(int256 amount0Delta, int256 amount1Delta, bytes calldata data) external {
        address payer = abi.decode(data, (address));
        IV3PoolSwap pool = IV3PoolSwap(msg.sender);
        if (amount0Delta > 0) require(IERC20Pay(pool.token0()).transferFrom(payer, msg.sender, uint256(amount0Delta)));
        if (amount1Delta > 0) require(IERC20Pay(pool.token1()).transferFrom(payer, msg.sender, uint256(amount1Delta)));
    }
}
