"""Integer codes and array layouts shared by the kernels and the Python API.

Kernels pass configuration as one float64 vector (``CFG_*`` indices) and
write records into structured arrays (``*_DTYPE``: integer fields where the
values are integers); the API hands users the same records as 2-D float64
arrays whose columns are named by the ``*_FIELDS`` tuples below
(:mod:`grekko_research.engine._records` converts) and pandas on demand.
"""

from __future__ import annotations

import numpy as np

# Positions within this (relative) size of zero are flat.
EPS = 1e-12
# An order adding exposure worth at most this share of equity is numerical residue: rejected.
DUST = 1e-9

# -- configuration vector ---------------------------------------------------------
CFG_INIT_CASH = 0
CFG_EXEC_CLOSE = 1  # 1: decisions of bar t fill at t's close; 0: at t+1's open
CFG_FEE_TAKER = 2
CFG_FEE_MAKER = 3
CFG_FEE_FIXED = 4
CFG_SLIP_KIND = 5
CFG_SLIP_VALUE = 6
CFG_SIZE_KIND = 7
CFG_SIZE_VALUE = 8
CFG_ALLOW_SHORT = 9
CFG_LEVERAGE = 10
CFG_MAINT_MARGIN = 11
CFG_SL_KIND = 12
CFG_SL_VALUE = 13
CFG_TP_KIND = 14
CFG_TP_VALUE = 15
CFG_TRAIL_KIND = 16
CFG_TRAIL_VALUE = 17
CFG_BOTH_TOUCH = 18  # 0 pessimistic (stop-loss first), 1 optimistic (take-profit first)
CFG_VALID_BARS = 19  # 0: good till cancelled
CFG_SIGNAL_MODE = 20
CFG_TARGET_KIND = 21
CFG_STOPS_ON_ENTRY_BAR = 22  # 1: a position opened at a bar's open is stop-checked in that bar
CFG_SKIP_SIGNALS_ON_STOP = 23  # 1: a stop exit drops that asset's signals of the same bar
CFG_KELLY_WIN_RATE = 24  # Kelly sizing: given win rate, NaN = estimate from closed trades
CFG_KELLY_PAYOFF = 25  # given payoff ratio, NaN = estimate
CFG_KELLY_CAP = 26  # largest fraction of equity
CFG_KELLY_MIN_TRADES = 27  # closed trades needed before estimating
CFG_KELLY_WARMUP = 28  # fraction of equity per entry until then
CFG_STOP_TRIGGER = 29  # 0: the bar model; else a venue's native stop rules (Stops.trigger):
TRIGGER_BINANCE_OCO = 1.0  # Stops.trigger='venue': Binance spot's OCO list
TRIGGER_USDM = 2.0  # Stops.trigger='usdm': Binance USD-M's separate algo orders
TRIGGER_COINBASE = 3.0  # Stops.trigger='coinbase': Coinbase's trigger_bracket_gtc bracket
COINBASE_BRACKET_SLIP = 0.05  # a triggered bracket's stop leg limits this far beyond its trigger
CFG_STOP_LIMIT_OFFSET = 30  # venue rules: a stop-loss sent as a stop-limit this far beyond
N_CFG = 31

# fill models (engine/_fills.py): one id per asset in Rules.fill_model
FILL_OHLC = 0
FILL_AMM = 1  # a DEX pool's quote (docs/dex.md): Market.pool rows, Rules.fill_state AMM_* columns
FILL_CALIBRATED = 2  # a fitted cost model (engine/costs.py): Rules.fill_state CAL_* columns

# AMM fill model: Rules.fill_state[j] columns (fixed per asset)
AMM_BASE_IS_TOKEN0 = 0  # 1: the asset (base) is the pool's token0, 0: token1
AMM_DECIMALS0 = 1
AMM_DECIMALS1 = 2
AMM_MAX_IMPACT = 3  # max price impact (fraction, LP fee included)
AMM_REFUSE = 4  # 1: refuse an order over the limit, 0: shrink it to the limit
AMM_HAIRCUT_BPS = 5  # MEV/sandwich haircut on the output
N_AMM_STATE = 6
# Calibrated cost model (engine/costs.py, docs/execution.md): Rules.fill_state[j] columns
CAL_A = 0  # slippage bps = a + b * sqrt(|size| / volume) + c * volatility (bps per bar)
CAL_B = 1
CAL_C = 2
CAL_VOL_WINDOW = 3  # bars of close-to-close log returns in the volatility (before the fill bar)
CAL_MAX_BPS = 4  # the slippage is capped here (the fit's largest observed cost, say)
CAL_FILL_A = 5  # resting limit: P(fill) = 1 / (1 + exp(-(fa + fb * through_bps))); fb = 0 and
CAL_FILL_B = 6  # fa = inf: always fills (no limit data)
N_CAL_STATE = 7
# ... and Market.pool[t, j] columns of a calibrated asset (per bar): its features at bar t's fill
CAL_BAR_VOLUME = 0  # the volume of the bar before t (bar 0: its own)
CAL_BAR_SIGMA = 1  # the volatility (bps per bar) of the closes up to the bar before t
N_CAL_BAR = 2
# ... and Market.pool[t, j] columns (per bar): the pool as of bar t
POOL_LIQUIDITY = 0  # in-range liquidity (raw)
POOL_FEE = 1  # LP fee, fraction of the input
POOL_GAS = 2  # gas per fill, quote currency
POOL_N_TICKS = 3  # initialised ticks in the window (0: constant liquidity)
POOL_WINDOW = 4  # then W ticks, W sqrt prices, W nets (W = (width - 4) // 3)

# signal modes
MODE_SIGNALS = 0
MODE_TARGET = 1
MODE_ORDERS = 2

# sizing of signal entries
SIZE_ALL = 0
SIZE_UNITS = 1
SIZE_NOTIONAL = 2
SIZE_PERCENT = 3
SIZE_VOL_TARGET = 4
SIZE_CASH_PERCENT = 5
SIZE_KELLY = 6

# target kinds
TARGET_PERCENT = 0
TARGET_UNITS = 1
TARGET_NOTIONAL = 2

# slippage kinds
SLIP_NONE = 0
SLIP_BPS = 1
SLIP_RANGE = 2
SLIP_VOLUME = 3

# stop kinds
STOP_OFF = 0
STOP_PCT = 1
STOP_ABS = 2
STOP_ATR = 3

# -- orders -----------------------------------------------------------------------
KIND_MARKET = 1
KIND_LIMIT = 2
KIND_STOP = 3
KIND_STOP_LIMIT = 4
KIND_STOP_LOSS = 5
KIND_TAKE_PROFIT = 6
KIND_TRAILING_STOP = 7
KIND_LIQUIDATION = 8
KIND_RISK_FLATTEN = 9
KIND_CANCEL = -1  # in an orders signal: cancel the asset's pending order
KIND_NAMES = {
    KIND_MARKET: "market",
    KIND_LIMIT: "limit",
    KIND_STOP: "stop",
    KIND_STOP_LIMIT: "stop_limit",
    KIND_STOP_LOSS: "stop_loss",
    KIND_TAKE_PROFIT: "take_profit",
    KIND_TRAILING_STOP: "trailing_stop",
    KIND_LIQUIDATION: "liquidation",
    KIND_RISK_FLATTEN: "risk_flatten",
}

STATUS_FILLED = 0
STATUS_REJECTED_MIN_NOTIONAL = 1
STATUS_REJECTED_RISK = 2
STATUS_REJECTED_FUNDS = 3
STATUS_EXPIRED = 4
STATUS_CANCELLED = 5
STATUS_NAMES = {
    STATUS_FILLED: "filled",
    STATUS_REJECTED_MIN_NOTIONAL: "rejected_min_notional",
    STATUS_REJECTED_RISK: "rejected_risk",
    STATUS_REJECTED_FUNDS: "rejected_funds",
    STATUS_EXPIRED: "expired",
    STATUS_CANCELLED: "cancelled",
}

ORDER_FIELDS = (
    "bar",
    "asset",
    "side",
    "size",
    "price",
    "fee",
    "kind",
    "status",
    "rule",
    "slippage",
)
(
    O_BAR,
    O_ASSET,
    O_SIDE,
    O_SIZE,
    O_PRICE,
    O_FEE,
    O_KIND,
    O_STATUS,
    O_RULE,
    O_SLIPPAGE,
) = range(len(ORDER_FIELDS))

TRADE_FIELDS = (
    "asset",
    "direction",
    "entry_bar",
    "exit_bar",
    "entry_price",
    "exit_price",
    "size",
    "pnl",
    "return",
    "fees",
    "funding",
    "mae",
    "mfe",
    "exit_kind",
    "is_open",
)
(
    T_ASSET,
    T_DIRECTION,
    T_ENTRY_BAR,
    T_EXIT_BAR,
    T_ENTRY_PRICE,
    T_EXIT_PRICE,
    T_SIZE,
    T_PNL,
    T_RETURN,
    T_FEES,
    T_FUNDING,
    T_MAE,
    T_MFE,
    T_EXIT_KIND,
    T_IS_OPEN,
) = range(len(TRADE_FIELDS))

# action: what the rule did (engine/_risk.py EVENT_ACTION_NAMES; 0 for the engine's own rules)
EVENT_FIELDS = ("bar", "asset", "rule", "value", "limit", "action")
E_BAR, E_ASSET, E_RULE, E_VALUE, E_LIMIT, E_ACTION = range(len(EVENT_FIELDS))

FUNDING_FIELDS = ("bar", "asset", "rate", "amount")  # amount: cash received (negative: paid)
F_BAR, F_ASSET, F_RATE, F_AMOUNT = range(len(FUNDING_FIELDS))

# -- record dtypes (kernel side; field order = the *_FIELDS columns) ---------------
_I8 = np.int64
_F8 = np.float64
ORDER_DTYPE = np.dtype(
    [
        ("bar", _I8),
        ("asset", _I8),
        ("side", _I8),
        ("size", _F8),
        ("price", _F8),
        ("fee", _F8),
        ("kind", _I8),
        ("status", _I8),
        ("rule", _I8),
        ("slippage", _F8),
    ],
    align=True,
)
TRADE_DTYPE = np.dtype(
    [
        ("asset", _I8),
        ("direction", _I8),
        ("entry_bar", _I8),
        ("exit_bar", _I8),  # -1: still open
        ("entry_price", _F8),
        ("exit_price", _F8),
        ("size", _F8),
        ("pnl", _F8),
        ("ret", _F8),  # the "return" column
        ("fees", _F8),
        ("funding", _F8),
        ("mae", _F8),
        ("mfe", _F8),
        ("exit_kind", _I8),  # -1: still open
        ("is_open", np.bool_),
    ],
    align=True,
)
EVENT_DTYPE = np.dtype(
    [("bar", _I8), ("asset", _I8), ("rule", _I8), ("value", _F8), ("limit", _F8),
     ("action", _I8)],
    align=True,
)  # fmt: skip
FUNDING_DTYPE = np.dtype([("bar", _I8), ("asset", _I8), ("rate", _F8), ("amount", _F8)], align=True)

# -- per-asset state columns (kernel-private) -------------------------------------
(
    S_POS,
    S_LAST,
    S_TR_OPEN,
    S_TR_DIR,
    S_TR_ENTRY_BAR,
    S_TR_EVAL,
    S_TR_ESIZE,
    S_TR_XVAL,
    S_TR_XSIZE,
    S_TR_PEAK,
    S_TR_FEES,
    S_TR_FUND,
    S_TR_REAL,
    S_TR_MINLOW,
    S_TR_MAXHIGH,
    S_AVG,
    S_SL,
    S_TP,
    S_TRAIL_D,
    S_TRAIL_PEAK,
    S_P_KIND,
    S_P_SIZE,
    S_P_LIMIT,
    S_P_STOP,
    S_P_EXPIRY,
    S_P_TRIG,
    S_ENTRY_FILL_BAR,
    S_STOP_BAR,
    S_SL_REST,  # venue rules: a triggered stop-limit's resting limit price (NaN: none)
) = range(29)
N_STATE = 29

# -- account vector (kernel-private) ----------------------------------------------
(
    A_CASH,
    A_N_ORD,
    A_N_TR,
    A_N_EV,
    A_PEAK,
    A_DAY_START_EQ,
    A_DAY,
    A_ORDERS_TODAY,
    A_HALTED,
    A_BLOCK_DAY,
    A_FLATTEN_DUE,
    A_EQUITY,
    A_N_FUND,
    A_KELLY_N,  # closed trades, for Kelly sizing (risk/sizing.py's running sums, in this order)
    A_KELLY_WINS,
    A_KELLY_WIN_SUM,
    A_KELLY_LOSS_SUM,
) = range(17)
N_ACCOUNT = 17
