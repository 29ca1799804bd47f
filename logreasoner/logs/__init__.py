"""Reading logs: decode, bound, stream, group by template, render for the model; batch template parsing."""

from logreasoner.logs.batch_parse import BatchParser, BatchParseSettings, ParseResult, ParseStats
from logreasoner.logs.excerpt import LogExcerpt, build_excerpt, sanitize_log_text
from logreasoner.logs.reader import LogLine, ReadStats, expand_sources, iter_lines, read_lines
from logreasoner.logs.template_match import TemplateIndex, matches
from logreasoner.logs.template_store import TemplateStore
from logreasoner.logs.templates import TemplateGroup, TemplateGrouper, group_by_template

__all__ = ["LogLine", "ReadStats", "iter_lines", "read_lines", "expand_sources", "TemplateGroup", "TemplateGrouper",
           "group_by_template", "LogExcerpt", "build_excerpt", "sanitize_log_text", "BatchParser", "BatchParseSettings",
           "ParseResult", "ParseStats", "TemplateIndex", "TemplateStore", "matches"]
