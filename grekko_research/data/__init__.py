"""Market data: the Parquet store, ccxt downloads, file import, validation, resampling, ``Bars``.

The names below are the public API; the submodules hold the details. They are
imported on first use, so code that only needs ``Bars`` (the engine, a grid
worker) does not pay for ccxt and pyarrow in time and memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from grekko_research._lazy import lazy_exports

if TYPE_CHECKING:
    from grekko_research.data.bars import Bars
    from grekko_research.data.download import Downloader, DownloadResult, RetryPolicy
    from grekko_research.data.exchanges import make_exchange
    from grekko_research.data.files import (
        import_file,
        import_files,
        parse_data_filename,
        read_data_file,
    )
    from grekko_research.data.load import SeriesInfo, load_bars, load_frame, series_info
    from grekko_research.data.resample import align, resample_bars, resample_frame
    from grekko_research.data.store import ParquetStore, SeriesKey, default_data_dir
    from grekko_research.data.timeframes import Timeframe, parse_timeframe, to_ms
    from grekko_research.data.validate import (
        DataQualityReport,
        Plausibility,
        check_frame,
        validate_frame,
    )

_WHERE = {
    "Bars": "bars",
    "DataQualityReport": "validate",
    "DownloadResult": "download",
    "Downloader": "download",
    "ParquetStore": "store",
    "Plausibility": "validate",
    "RetryPolicy": "download",
    "SeriesInfo": "load",
    "SeriesKey": "store",
    "Timeframe": "timeframes",
    "align": "resample",
    "check_frame": "validate",
    "default_data_dir": "store",
    "import_file": "files",
    "import_files": "files",
    "load_bars": "load",
    "load_frame": "load",
    "make_exchange": "exchanges",
    "parse_data_filename": "files",
    "parse_timeframe": "timeframes",
    "read_data_file": "files",
    "resample_bars": "resample",
    "resample_frame": "resample",
    "series_info": "load",
    "to_ms": "timeframes",
    "validate_frame": "validate",
}

__all__ = [
    "Bars",
    "DataQualityReport",
    "DownloadResult",
    "Downloader",
    "ParquetStore",
    "Plausibility",
    "RetryPolicy",
    "SeriesInfo",
    "SeriesKey",
    "Timeframe",
    "align",
    "check_frame",
    "default_data_dir",
    "import_file",
    "import_files",
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


__getattr__, __dir__ = lazy_exports(__name__, _WHERE, globals())
