"""Console strings of the protection report's page (issue #21) in zh-CN and English, merged into
the console catalogue (keys it already has keep their text). The report's own headings and
words are :mod:`lendguard.reporting.render`'s."""

from __future__ import annotations

REPORT_ZH: dict[str, str] = {
    "Protection report": "消费者保护报告",
    "Download PDF": "下载 PDF",
    "Download JSON": "下载 JSON",
    "The report for %s to %s (both days included, in the time zone %s), from live data.": (
        "%s 至 %s 的报告（含首尾两天，按 %s 时区计算），基于实时数据。"
    ),
}

REPORT_EN: dict[str, str] = {}


def merge(zh: dict[str, str], en: dict[str, str]) -> None:
    """Add this page's strings to the console catalogue (a key it already has keeps its text)."""
    for table, extra in ((zh, REPORT_ZH), (en, REPORT_EN)):
        for key, text in extra.items():
            table.setdefault(key, text)
