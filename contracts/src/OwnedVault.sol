// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @title OwnedVault
/// @notice Funds held by a contract that only its owner can take out. Ownership moves in two
/// steps (`transferOwnership` then `acceptOwnership`) and can never be renounced: a contract
/// holding funds without an owner would lock them for good.
abstract contract OwnedVault is Ownable2Step, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice `token` is the zero address for ETH.
    event Withdrawn(address indexed token, address indexed to, uint256 amount);

    error ZeroAddress();
    error RenounceDisabled();
    error EthTransferFailed(address to, uint256 amount);

    receive() external payable {}

    /// @notice Send `amount` of `token` held by this contract to `to` (owner only; works while paused).
    function withdrawToken(address token, address to, uint256 amount) external onlyOwner nonReentrant {
        if (to == address(0) || token == address(0)) revert ZeroAddress();
        IERC20(token).safeTransfer(to, amount);
        emit Withdrawn(token, to, amount);
    }

    /// @notice Send `amount` wei held by this contract to `to` (owner only; works while paused).
    function withdrawETH(address payable to, uint256 amount) external onlyOwner nonReentrant {
        if (to == address(0)) revert ZeroAddress();
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert EthTransferFailed(to, amount);
        emit Withdrawn(address(0), to, amount);
    }

    /// @notice Disabled: see the contract's notice.
    function renounceOwnership() public pure override {
        revert RenounceDisabled();
    }
}
