// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {IUniswapV3SwapCallbackLike} from "../src/interfaces/IUniswapV3PoolLike.sol";

interface IV3PoolMint {
    function token0() external view returns (address);

    function token1() external view returns (address);

    function mint(address recipient, int24 tickLower, int24 tickUpper, uint128 amount, bytes calldata data)
        external
        returns (uint256 amount0, uint256 amount1);
}

/// @notice Test-only liquidity provider for a real Uniswap V3 pool (the periphery's job): mints
/// a position and pays the pool from the caller's approved balance in the mint callback.
contract V3MintHelper {
    using SafeERC20 for IERC20;

    function mint(address pool, int24 tickLower, int24 tickUpper, uint128 liquidity) external {
        IV3PoolMint(pool).mint(msg.sender, tickLower, tickUpper, liquidity, abi.encode(msg.sender));
    }

    function uniswapV3MintCallback(uint256 amount0Owed, uint256 amount1Owed, bytes calldata data) external {
        address payer = abi.decode(data, (address));
        IV3PoolMint pool = IV3PoolMint(msg.sender);
        if (amount0Owed > 0) IERC20(pool.token0()).safeTransferFrom(payer, msg.sender, amount0Owed);
        if (amount1Owed > 0) IERC20(pool.token1()).safeTransferFrom(payer, msg.sender, amount1Owed);
    }
}

/// @notice Test-only attacker: calls a swap callback directly, as a fake pool would.
contract FakeV3Pool {
    address public token0;
    address public token1;

    constructor(address token0_, address token1_) {
        token0 = token0_;
        token1 = token1_;
    }

    function attack(address victim, int256 amount0Delta, int256 amount1Delta) external {
        IUniswapV3SwapCallbackLike(victim).uniswapV3SwapCallback(amount0Delta, amount1Delta, "");
    }
}
