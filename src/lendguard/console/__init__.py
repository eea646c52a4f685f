"""The web console at /console: server-rendered pages, no CDN, usable in zh-CN and en."""
