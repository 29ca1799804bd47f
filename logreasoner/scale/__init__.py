"""Scale: streaming ingestion, template-aware reasoning, a persistent answer cache, bounded concurrency.

Cost grows with what is new in the logs, not with their volume: lines stream through Drain3 in bounded memory,
the model reasons once per distinct template (or session pattern), answers are cached by (program, model, task,
labels, template), and every line gets its template's answer.
"""

from logreasoner.scale.cache import AnswerCache, cache_key
from logreasoner.scale.config import ScaleSettings, get_scale_settings
from logreasoner.scale.fingerprint import model_name, program_fingerprint
from logreasoner.scale.pipeline import ScanReport, pattern_items, peak_rss_mb, scan_log, template_items, write_results
from logreasoner.scale.reasoner import Answer, ReasonItem, ReasonStats, TemplateReasoner, is_serial_lm
from logreasoner.scale.sessions import HDFS_BLOCK_ID, Session, SessionSpec, Sessionizer
from logreasoner.scale.stream import PatternInfo, ScanResult, StreamScanner, TemplateInfo, scan_stream
from logreasoner.scale.timestamps import TimestampParser

__all__ = [
    "scan_log", "ScanReport", "scan_stream", "StreamScanner", "ScanResult", "TemplateInfo", "PatternInfo",
    "SessionSpec", "Session", "Sessionizer", "HDFS_BLOCK_ID", "TimestampParser",
    "TemplateReasoner", "ReasonItem", "Answer", "ReasonStats", "is_serial_lm", "AnswerCache", "cache_key",
    "program_fingerprint", "model_name", "ScaleSettings", "get_scale_settings", "template_items", "pattern_items",
    "write_results", "peak_rss_mb",
]
