// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

/// @notice The flash-loan part of a Balancer V2-style vault (public ABI, our words).
interface IBalancerVaultLike {
    function flashLoan(
        address recipient,
        address[] calldata tokens,
        uint256[] calldata amounts,
        bytes calldata userData
    ) external;
}

/// @notice What a Balancer V2-style vault calls on the borrower; the borrower must have sent
/// `amounts[i] + feeAmounts[i]` back to the vault before returning.
interface IFlashLoanRecipientLike {
    function receiveFlashLoan(
        address[] calldata tokens,
        uint256[] calldata amounts,
        uint256[] calldata feeAmounts,
        bytes calldata userData
    ) external;
}
