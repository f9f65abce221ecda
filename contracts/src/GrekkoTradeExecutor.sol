// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {RouteSwapper} from "./RouteSwapper.sol";

/// @title GrekkoTradeExecutor
/// @notice Holds the trading funds of a Grekko DEX venue. The executor role (the bot's hot key)
/// can swap them through pools the owner listed, each swap bounded by a minimum output and a
/// deadline; it can pause but never withdraw, unpause, list pools or name a recipient. The owner
/// (a cold key, transferred in two steps) does those. Swapped tokens stay in this contract.
contract GrekkoTradeExecutor is RouteSwapper, Pausable {
    mapping(address account => bool) public isExecutor;

    event ExecutorSet(address indexed account, bool allowed);
    event Swapped(
        address indexed executor,
        address indexed tokenIn,
        address indexed tokenOut,
        uint256 amountIn,
        uint256 amountOut,
        address[] route
    );

    error NotExecutor(address account);
    error DeadlineExpired(uint256 deadline, uint256 timestamp);
    error ZeroMinOut();
    error InsufficientOutput(uint256 amountOut, uint256 minOut);

    constructor(address initialOwner) Ownable(initialOwner) {}

    modifier onlyExecutor() {
        if (!isExecutor[msg.sender]) revert NotExecutor(msg.sender);
        _;
    }

    /// @notice Grant or revoke the executor role (owner only).
    function setExecutor(address account, bool allowed) external onlyOwner {
        if (account == address(0)) revert ZeroAddress();
        isExecutor[account] = allowed;
        emit ExecutorSet(account, allowed);
    }

    /// @notice Stop all swaps: the owner or an executor (a hot key that sees trouble stops itself).
    function pause() external {
        if (msg.sender != owner() && !isExecutor[msg.sender]) revert NotExecutor(msg.sender);
        _pause();
    }

    /// @notice Resume swaps (owner only).
    function unpause() external onlyOwner {
        _unpause();
    }

    /// @notice Swap `amountIn` of `tokenIn` held by this contract along `route` (listed pools, in
    /// order); the output stays here. Reverts unless this contract's balance of the last token
    /// grew by at least `minOut` (> 0) over the last hop, or after `deadline` (unix seconds).
    /// @return amountOut what arrived, fee-on-transfer tokens' fees deducted
    function swapExactIn(address tokenIn, address[] calldata route, uint256 amountIn, uint256 minOut, uint256 deadline)
        external
        nonReentrant
        whenNotPaused
        onlyExecutor
        returns (uint256 amountOut)
    {
        if (block.timestamp > deadline) revert DeadlineExpired(deadline, block.timestamp);
        if (minOut == 0) revert ZeroMinOut();
        address tokenOut;
        (tokenOut, amountOut) = _swapRoute(tokenIn, route, amountIn, address(this));
        if (amountOut < minOut) revert InsufficientOutput(amountOut, minOut);
        emit Swapped(msg.sender, tokenIn, tokenOut, amountIn, amountOut, route);
    }

    /// @notice This contract's balance of `token` (a convenience for the bot's reconciliation).
    function tokenBalance(address token) external view returns (uint256) {
        return IERC20(token).balanceOf(address(this));
    }
}
