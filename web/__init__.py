"""`campaigns serve`: the local web page over the same library (DESIGN.md, "The web page").

    command     the click command: options, config and key -> `ServeSettings`, the
                socket, the printed link, the browser; cheap to import
    server      uvicorn on a loopback socket: in the foreground (Ctrl-C) or in a thread
    app         the Starlette app: one route per page, Jinja2 templates, htmx polling
    guard       what every request must show: launch token (then a cookie), Host,
                Origin, size; the CSRF token forms carry
    workspace   the server's state and the library calls: upload -> check
                (`validate_files`) -> plan (`plan_files`) -> apply (`apply_plan`, in a
                thread of its own); the private folder for uploads
    views       the library's results laid out for the templates: each message at its
                cell, a plan's rows grouped, the status colours of results.xlsx

`templates/` holds the pages, `static/` the style sheet, a few lines of script for the
drop zone and htmx (2.0.11, 0BSD, `static/htmx.LICENSE`); nothing loads from elsewhere.
"""
