// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {IAavePoolLike, IFlashLoanSimpleReceiverLike} from "./interfaces/IAavePoolLike.sol";
import {IBalancerVaultLike, IFlashLoanRecipientLike} from "./interfaces/IBalancerVaultLike.sol";
import {RouteSwapper} from "./RouteSwapper.sol";

/// @title FlashLoanArbitrage
/// @notice Borrows one token (Aave V3-style `flashLoanSimple` or a Balancer V2-style vault flash
/// loan), trades it around a cyclic route of listed pools (the same swap code as the trade
/// executor) and repays; the whole transaction reverts unless the route returned the loan, the
/// lender's fee and at least `minProfit` on top. Only the owner starts one; a lender callback is
/// accepted only from the configured lender, for the loan this contract itself is taking.
contract FlashLoanArbitrage is RouteSwapper, IFlashLoanSimpleReceiverLike, IFlashLoanRecipientLike {
    using SafeERC20 for IERC20;

    enum Lender {
        Aave,
        Balancer
    }

    IAavePoolLike public immutable AAVE_POOL;
    IBalancerVaultLike public immutable BALANCER_VAULT;

    // The loan this contract started and has not seen the callback of (hash of asset, amount, plan).
    bytes32 private transient _pendingLoan;
    uint256 private transient _loanFee;

    event Arbitrage(Lender indexed lender, address indexed asset, uint256 amount, uint256 fee, uint256 profit);

    error LenderNotConfigured(Lender lender);
    error UnexpectedLender(address caller);
    error BadInitiator(address initiator);
    error NoPendingLoan();
    error LoanNotTaken();
    error BadLoan();
    error RouteNotCyclic(address asset, address tokenOut);
    error ProfitTooLow(uint256 proceeds, uint256 required);

    constructor(address initialOwner, address aavePool, address balancerVault) Ownable(initialOwner) {
        AAVE_POOL = IAavePoolLike(aavePool);
        BALANCER_VAULT = IBalancerVaultLike(balancerVault);
    }

    /// @notice Borrow `amount` of `asset` from the Aave pool, trade it along `route` (which must
    /// end in `asset`), repay with the pool's premium; reverts unless `minProfit` is left.
    /// @return profit the growth of this contract's `asset` balance
    function arbitrageAave(address asset, uint256 amount, address[] calldata route, uint256 minProfit)
        external
        onlyOwner
        nonReentrant
        returns (uint256 profit)
    {
        if (address(AAVE_POOL) == address(0)) revert LenderNotConfigured(Lender.Aave);
        uint256 start = _begin(asset, amount, route);
        bytes memory plan = abi.encode(route, minProfit);
        _pendingLoan = keccak256(abi.encode(asset, amount, plan));
        AAVE_POOL.flashLoanSimple(address(this), asset, amount, plan, 0);
        profit = _finish(Lender.Aave, asset, amount, start, minProfit);
    }

    /// @notice As {arbitrageAave}, borrowing from the Balancer vault.
    function arbitrageBalancer(address asset, uint256 amount, address[] calldata route, uint256 minProfit)
        external
        onlyOwner
        nonReentrant
        returns (uint256 profit)
    {
        if (address(BALANCER_VAULT) == address(0)) revert LenderNotConfigured(Lender.Balancer);
        uint256 start = _begin(asset, amount, route);
        bytes memory plan = abi.encode(route, minProfit);
        _pendingLoan = keccak256(abi.encode(asset, amount, plan));
        address[] memory tokens = new address[](1);
        tokens[0] = asset;
        uint256[] memory amounts = new uint256[](1);
        amounts[0] = amount;
        BALANCER_VAULT.flashLoan(address(this), tokens, amounts, plan);
        profit = _finish(Lender.Balancer, asset, amount, start, minProfit);
    }

    /// @notice The Aave pool's premium on `amount` now (its FLASHLOAN_PREMIUM_TOTAL, rounded as Aave does).
    function aavePremium(uint256 amount) external view returns (uint256) {
        return (amount * AAVE_POOL.FLASHLOAN_PREMIUM_TOTAL() + 5_000) / 10_000;
    }

    /// @inheritdoc IFlashLoanSimpleReceiverLike
    function executeOperation(address asset, uint256 amount, uint256 premium, address initiator, bytes calldata params)
        external
        override
        returns (bool)
    {
        if (msg.sender != address(AAVE_POOL)) revert UnexpectedLender(msg.sender);
        if (initiator != address(this)) revert BadInitiator(initiator);
        _consumePending(keccak256(abi.encode(asset, amount, params)));
        _runPlan(asset, amount, premium, params);
        IERC20(asset).forceApprove(msg.sender, amount + premium); // the pool pulls the repayment
        return true;
    }

    /// @inheritdoc IFlashLoanRecipientLike
    /// @dev The vault passes no initiator: the pending-loan hash, set only inside an owner's call,
    /// is what proves this contract asked for the loan.
    function receiveFlashLoan(
        address[] calldata tokens,
        uint256[] calldata amounts,
        uint256[] calldata feeAmounts,
        bytes calldata userData
    ) external override {
        if (msg.sender != address(BALANCER_VAULT)) revert UnexpectedLender(msg.sender);
        if (tokens.length != 1 || amounts.length != 1 || feeAmounts.length != 1) revert BadLoan();
        _consumePending(keccak256(abi.encode(tokens[0], amounts[0], userData)));
        _runPlan(tokens[0], amounts[0], feeAmounts[0], userData);
        IERC20(tokens[0]).safeTransfer(msg.sender, amounts[0] + feeAmounts[0]); // the vault checks its balance
    }

    function _begin(address asset, uint256 amount, address[] calldata route) private view returns (uint256) {
        if (amount == 0) revert ZeroAmount();
        address tokenOut = routeTokenOut(asset, route);
        if (tokenOut != asset) revert RouteNotCyclic(asset, tokenOut);
        return IERC20(asset).balanceOf(address(this));
    }

    function _consumePending(bytes32 loan) private {
        if (_pendingLoan == bytes32(0) || _pendingLoan != loan) revert NoPendingLoan();
        _pendingLoan = bytes32(0);
    }

    function _runPlan(address asset, uint256 amount, uint256 fee, bytes calldata plan) private {
        (address[] memory route, uint256 minProfit) = abi.decode(plan, (address[], uint256));
        (, uint256 proceeds) = _swapRoute(asset, route, amount, address(this));
        uint256 required = amount + fee + minProfit;
        if (proceeds < required) revert ProfitTooLow(proceeds, required);
        _loanFee = fee;
    }

    function _finish(Lender lender, address asset, uint256 amount, uint256 start, uint256 minProfit)
        private
        returns (uint256 profit)
    {
        if (_pendingLoan != bytes32(0)) revert LoanNotTaken(); // the lender never called back
        uint256 end = IERC20(asset).balanceOf(address(this));
        if (end < start + minProfit) revert ProfitTooLow(end > start ? end - start : 0, minProfit);
        profit = end - start;
        emit Arbitrage(lender, asset, amount, _loanFee, profit);
    }
}
