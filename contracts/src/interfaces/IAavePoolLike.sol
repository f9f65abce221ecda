// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

/// @notice The flash-loan part of an Aave V3-style lending pool (public ABI, our words).
interface IAavePoolLike {
    function flashLoanSimple(
        address receiverAddress,
        address asset,
        uint256 amount,
        bytes calldata params,
        uint16 referralCode
    ) external;

    /// @notice The flash-loan premium in basis points (of 10 000) the pool charges.
    function FLASHLOAN_PREMIUM_TOTAL() external view returns (uint128);
}

/// @notice What an Aave V3-style pool calls on the borrower during `flashLoanSimple`; the pool
/// then pulls `amount + premium` with `transferFrom`.
interface IFlashLoanSimpleReceiverLike {
    function executeOperation(
        address asset,
        uint256 amount,
        uint256 premium,
        address initiator,
        bytes calldata params
    ) external returns (bool);
}
