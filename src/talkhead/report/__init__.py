"""The dataset report: one offline HTML page over a run (talkhead.report.page), and Great Expectations Data
Docs made to render with no network (talkhead.report.offline)."""
