"""Reading logs: decode, bound, stream, group by template, render for the model."""

from logreasoner.logs.excerpt import LogExcerpt, build_excerpt, sanitize_log_text
from logreasoner.logs.reader import LogLine, ReadStats, expand_sources, iter_lines, read_lines
from logreasoner.logs.templates import TemplateGroup, TemplateGrouper, group_by_template

__all__ = ["LogLine", "ReadStats", "iter_lines", "read_lines", "expand_sources", "TemplateGroup", "TemplateGrouper",
           "group_by_template", "LogExcerpt", "build_excerpt", "sanitize_log_text"]
