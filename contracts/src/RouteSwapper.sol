// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {IUniswapV2PairLike} from "./interfaces/IUniswapV2PairLike.sol";
import {IUniswapV3PoolLike, IUniswapV3SwapCallbackLike} from "./interfaces/IUniswapV3PoolLike.sol";
import {OwnedVault} from "./OwnedVault.sol";

/// @title RouteSwapper
/// @notice The one swap path of Grekko's contracts: an exact-input swap over a route of pools the
/// owner has listed (Uniswap V2-style pairs with a per-pair fee, Uniswap V3-style pools). The
/// only external calls it makes are to listed pools and to their two tokens; the caller names
/// pools, never call targets or calldata.
abstract contract RouteSwapper is OwnedVault, IUniswapV3SwapCallbackLike {
    using SafeERC20 for IERC20;

    enum PoolKind {
        None,
        V2,
        V3
    }

    struct PoolInfo {
        PoolKind kind;
        /// V2 only: the share of the input that trades, out of V2_FEE_DENOMINATOR
        /// (Uniswap V2 and SushiSwap 997_000, PancakeSwap V2 997_500).
        uint32 v2FeeNumerator;
        address token0;
        address token1;
    }

    uint32 public constant V2_FEE_DENOMINATOR = 1_000_000;
    uint256 public constant MAX_HOPS = 6;
    // TickMath.MIN_SQRT_RATIO + 1 and MAX_SQRT_RATIO - 1: no price limit, the amount bounds the swap.
    uint160 internal constant MIN_SQRT_PRICE_LIMIT = 4_295_128_740;
    uint160 internal constant MAX_SQRT_PRICE_LIMIT = 1_461_446_703_485_210_103_287_273_052_203_988_822_378_723_970_341;

    mapping(address pool => PoolInfo) public pools;

    // The V3 swap in flight: only this pool may call back, once, for at most this much of this token.
    address private transient _activePool;
    address private transient _activeTokenIn;
    bool private transient _activeZeroForOne;
    uint256 private transient _activeMaxIn;

    event PoolSet(address indexed pool, PoolKind kind, uint32 v2FeeNumerator, address token0, address token1);

    error PoolNotListed(address pool);
    error TokenNotInPool(address pool, address token);
    error BadPool(address pool);
    error BadFee(uint32 v2FeeNumerator);
    error BadRoute(uint256 hops);
    error ZeroAmount();
    error AmountTooLarge(uint256 amount);
    error ZeroOutput(address pool);
    error UnexpectedCallback(address caller);
    error CallbackOverpay(uint256 asked, uint256 allowed);

    /// @notice List (or, with `kind` None, delist) a pool the routes may use. Its tokens are read
    /// from the pool once, here, so a route cannot misstate them.
    function setPool(address pool, PoolKind kind, uint32 v2FeeNumerator) external onlyOwner {
        if (kind == PoolKind.None) {
            delete pools[pool];
            emit PoolSet(pool, kind, 0, address(0), address(0));
            return;
        }
        if (kind == PoolKind.V2) {
            if (v2FeeNumerator == 0 || v2FeeNumerator > V2_FEE_DENOMINATOR) revert BadFee(v2FeeNumerator);
        } else if (v2FeeNumerator != 0) {
            revert BadFee(v2FeeNumerator); // a V3 pool charges its own fee
        }
        if (pool.code.length == 0) revert BadPool(pool);
        address token0 = IUniswapV2PairLike(pool).token0();
        address token1 = IUniswapV2PairLike(pool).token1();
        if (token0 == address(0) || token1 == address(0) || token0 == token1) revert BadPool(pool);
        pools[pool] = PoolInfo(kind, v2FeeNumerator, token0, token1);
        emit PoolSet(pool, kind, v2FeeNumerator, token0, token1);
    }

    /// @notice The token a route ends in; reverts on an unlisted pool or a broken chain of tokens.
    function routeTokenOut(address tokenIn, address[] memory route) public view returns (address token) {
        if (route.length == 0 || route.length > MAX_HOPS) revert BadRoute(route.length);
        token = tokenIn;
        for (uint256 i = 0; i < route.length; ++i) {
            (, token) = _hop(route[i], token);
        }
    }

    /// @dev Swap `amountIn` of `tokenIn` held by this contract along `route`; the last hop pays
    /// `recipient`. Returns the last token and `recipient`'s balance change in it over the last
    /// hop (what actually arrived, fee-on-transfer tokens included).
    function _swapRoute(address tokenIn, address[] memory route, uint256 amountIn, address recipient)
        internal
        returns (address token, uint256 amountOut)
    {
        if (amountIn == 0) revert ZeroAmount();
        if (route.length == 0 || route.length > MAX_HOPS) revert BadRoute(route.length);
        token = tokenIn;
        amountOut = amountIn;
        uint256 last = route.length - 1;
        for (uint256 i = 0; i <= last; ++i) {
            address pool = route[i];
            (PoolInfo memory info, address tokenOut) = _hop(pool, token);
            address to = i == last ? recipient : address(this);
            uint256 before = IERC20(tokenOut).balanceOf(to);
            if (info.kind == PoolKind.V2) {
                _swapV2(pool, info, token, amountOut, to);
            } else {
                _swapV3(pool, token == info.token0, token, amountOut, to);
            }
            amountOut = IERC20(tokenOut).balanceOf(to) - before;
            if (amountOut == 0) revert ZeroOutput(pool);
            token = tokenOut;
        }
    }

    function _hop(address pool, address tokenIn) private view returns (PoolInfo memory info, address tokenOut) {
        info = pools[pool];
        if (info.kind == PoolKind.None) revert PoolNotListed(pool);
        if (tokenIn == info.token0) return (info, info.token1);
        if (tokenIn == info.token1) return (info, info.token0);
        revert TokenNotInPool(pool, tokenIn);
    }

    function _swapV2(address pair, PoolInfo memory info, address tokenIn, uint256 amount, address to) private {
        IERC20(tokenIn).safeTransfer(pair, amount);
        (uint256 reserve0, uint256 reserve1,) = IUniswapV2PairLike(pair).getReserves();
        bool zeroForOne = tokenIn == info.token0;
        (uint256 reserveIn, uint256 reserveOut) = zeroForOne ? (reserve0, reserve1) : (reserve1, reserve0);
        // What the pair received, not what was sent: a fee-on-transfer token delivers less.
        uint256 received = IERC20(tokenIn).balanceOf(pair) - reserveIn;
        uint256 inWithFee = received * info.v2FeeNumerator;
        uint256 out = (inWithFee * reserveOut) / (reserveIn * V2_FEE_DENOMINATOR + inWithFee);
        if (out == 0) revert ZeroOutput(pair);
        (uint256 out0, uint256 out1) = zeroForOne ? (uint256(0), out) : (out, uint256(0));
        IUniswapV2PairLike(pair).swap(out0, out1, to, "");
    }

    function _swapV3(address pool, bool zeroForOne, address tokenIn, uint256 amount, address to) private {
        if (amount > uint256(type(int256).max)) revert AmountTooLarge(amount);
        _activePool = pool;
        _activeTokenIn = tokenIn;
        _activeZeroForOne = zeroForOne;
        _activeMaxIn = amount;
        IUniswapV3PoolLike(pool).swap(
            to, zeroForOne, int256(amount), zeroForOne ? MIN_SQRT_PRICE_LIMIT : MAX_SQRT_PRICE_LIMIT, ""
        );
        if (_activePool != address(0)) revert UnexpectedCallback(pool); // the pool never asked to be paid
    }

    /// @inheritdoc IUniswapV3SwapCallbackLike
    /// @dev Pays only the pool of the swap in flight, once, never more than that hop's input.
    function uniswapV3SwapCallback(int256 amount0Delta, int256 amount1Delta, bytes calldata) external override {
        address pool = _activePool;
        if (pool == address(0) || msg.sender != pool) revert UnexpectedCallback(msg.sender);
        _activePool = address(0);
        int256 owed = _activeZeroForOne ? amount0Delta : amount1Delta;
        if (owed <= 0) revert UnexpectedCallback(msg.sender);
        if (uint256(owed) > _activeMaxIn) revert CallbackOverpay(uint256(owed), _activeMaxIn);
        IERC20(_activeTokenIn).safeTransfer(pool, uint256(owed));
    }
}
