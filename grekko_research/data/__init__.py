"""Market data: the Parquet store, ccxt downloads, file import, validation, resampling, ``Bars``.

The names below are the public API; the submodules hold the details.
"""

from grekko_research.data.bars import Bars
from grekko_research.data.download import Downloader, DownloadResult, RetryPolicy
from grekko_research.data.exchanges import make_exchange
from grekko_research.data.files import import_file, parse_data_filename, read_data_file
from grekko_research.data.load import SeriesInfo, load_bars, load_frame, series_info
from grekko_research.data.resample import align, resample_bars, resample_frame
from grekko_research.data.store import ParquetStore, SeriesKey, default_data_dir
from grekko_research.data.timeframes import Timeframe, parse_timeframe, to_ms
from grekko_research.data.validate import DataQualityReport, check_frame, validate_frame

__all__ = [
    "Bars",
    "DataQualityReport",
    "DownloadResult",
    "Downloader",
    "ParquetStore",
    "RetryPolicy",
    "SeriesInfo",
    "SeriesKey",
    "Timeframe",
    "align",
    "check_frame",
    "default_data_dir",
    "import_file",
    "load_bars",
    "load_frame",
    "make_exchange",
    "parse_data_filename",
    "parse_timeframe",
    "read_data_file",
    "resample_bars",
    "resample_frame",
    "series_info",
    "to_ms",
    "validate_frame",
]
