// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {IFlashLoanSimpleReceiverLike} from "../src/interfaces/IAavePoolLike.sol";
import {IFlashLoanRecipientLike} from "../src/interfaces/IBalancerVaultLike.sol";

/// @notice Test-only lender with Aave V3's `flashLoanSimple` semantics: premium =
/// amount × FLASHLOAN_PREMIUM_TOTAL / 10 000 rounded half up, pulled back with transferFrom.
contract MockAavePool {
    using SafeERC20 for IERC20;

    uint128 public FLASHLOAN_PREMIUM_TOTAL;

    constructor(uint128 premiumBps) {
        FLASHLOAN_PREMIUM_TOTAL = premiumBps;
    }

    function setPremium(uint128 premiumBps) external {
        FLASHLOAN_PREMIUM_TOTAL = premiumBps;
    }

    function flashLoanSimple(address receiver, address asset, uint256 amount, bytes calldata params, uint16)
        external
    {
        uint256 premium = (amount * FLASHLOAN_PREMIUM_TOTAL + 5_000) / 10_000;
        IERC20(asset).safeTransfer(receiver, amount);
        require(
            IFlashLoanSimpleReceiverLike(receiver).executeOperation(asset, amount, premium, msg.sender, params),
            "invalid flash loan executor return"
        );
        IERC20(asset).safeTransferFrom(receiver, address(this), amount + premium);
    }
}

/// @notice Test-only lender with Balancer V2's vault flash-loan semantics: the borrower sends
/// amount + fee back itself; the vault checks its balance afterwards.
contract MockBalancerVault {
    using SafeERC20 for IERC20;

    uint256 public feeBps;

    function setFee(uint256 feeBps_) external {
        feeBps = feeBps_;
    }

    function flashLoan(address recipient, address[] calldata tokens, uint256[] calldata amounts, bytes calldata data)
        external
    {
        uint256 n = tokens.length;
        uint256[] memory fees = new uint256[](n);
        uint256[] memory before = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            fees[i] = (amounts[i] * feeBps) / 10_000;
            before[i] = IERC20(tokens[i]).balanceOf(address(this));
            IERC20(tokens[i]).safeTransfer(recipient, amounts[i]);
        }
        IFlashLoanRecipientLike(recipient).receiveFlashLoan(tokens, amounts, fees, data);
        for (uint256 i = 0; i < n; ++i) {
            require(IERC20(tokens[i]).balanceOf(address(this)) >= before[i] + fees[i], "BAL#602");
        }
    }
}
