"""The HTML page: sections of figures (PNG, relative links) and tables. Numeric
cells carry their full-precision value in a data-value attribute, so scripts (and
the tests) can read the numbers back exactly."""

import datetime
import html
import math
import os


def fmt_yield(x):
    """Event yields: thousands separators for large numbers, 3-4 significant digits
    for small ones."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    a = abs(x)
    if float(x).is_integer() and a < 1e4:
        return "%d" % int(x)
    if a >= 1e4:
        return "{:,.0f}".format(x)
    if a >= 100:
        return "{:.1f}".format(x)
    if a >= 1:
        return "{:.2f}".format(x)
    if a == 0:
        return "0"
    return "{:.3g}".format(x)


def _decimals(x):
    """Decimal places fmt_yield shows for x."""
    a = abs(x)
    if a >= 1e4 or a == 0 or (float(x).is_integer() and a < 1e4):
        return 0
    if a >= 100:
        return 1
    if a >= 1:
        return 2
    return max(0, 2 - int(math.floor(math.log10(a))))


def fmt_pm(x, err):
    """'x ± err' with the error shown to the decimals of the value."""
    d = _decimals(x)
    if abs(x) >= 1e4 or abs(err) >= 1e4:
        return "%s ± %s" % ("{:,.{d}f}".format(x, d=d), "{:,.{d}f}".format(err, d=d))
    return "{:.{d}f} ± {:.{d}f}".format(x, err, d=d) if d or not float(x).is_integer() else \
        "%d ± %s" % (int(x), "{:.{d}f}".format(err, d=max(0, 1 if err < 10 else 0)))


def fmt_z(x):
    """Significances: 3 decimals, 3 significant digits below 0.01."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if x == 0:
        return "0"
    return "%.3f" % x if abs(x) >= 0.01 else "%.3g" % x


def fmt_count(x):
    if x is None:
        return "–"
    return "{:,d}".format(int(round(x)))


def fmt_fixed(x, digits=2):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return "{:.{d}f}".format(x, d=digits)


def fmt_g(x, digits=3):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return "{:.{d}g}".format(x, d=digits)


class Cell:
    def __init__(self, text, value=None, numeric=None, title=None, cls=None):
        self.text = text
        self.value = value
        self.numeric = numeric if numeric is not None else value is not None
        self.title = title
        self.cls = cls


def num(x, fmt=fmt_yield, error=None, title=None, cls=None):
    """A numeric cell (optionally 'x ± error')."""
    if x is None:
        return Cell("–", None, numeric=True, title=title, cls=cls)
    t = fmt(x)
    if error is not None and error == error:
        t = fmt_pm(x, error) if fmt is fmt_yield else t + " ± " + fmt(error)
    return Cell(t, float(x), numeric=True, title=title, cls=cls)


class Figure:
    def __init__(self, name, caption, title=None, wide=False):
        """wide: a figure of several panels, given the page's full width."""
        self.name, self.caption, self.title, self.wide = name, caption, title, wide


class Table:
    def __init__(self, table_id, caption, header, rows, note=None, collapsed=False):
        self.id, self.caption, self.header, self.rows = table_id, caption, header, rows
        self.note, self.collapsed = note, collapsed


class Text:
    def __init__(self, text, raw=False, cls=None):
        self.text, self.raw, self.cls = text, raw, cls


class Section:
    def __init__(self, sid, title, intro=None):
        self.id, self.title, self.intro, self.items = sid, title, intro, []

    def add(self, item):
        self.items.append(item)
        return item


CSS = """
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 0 2em 3em 2em; color: #111;
       max-width: 1500px; }
h1 { margin-bottom: 0.2em; }
h2 { border-bottom: 2px solid #333; padding-bottom: 0.15em; margin-top: 1.8em; }
.meta { color: #555; font-size: 0.95em; }
nav ul { columns: 3; list-style: none; padding-left: 0; }
.figures { display: flex; flex-wrap: wrap; gap: 1.2em; }
figure { margin: 0; max-width: 720px; flex: 1 1 560px; }
figure.wide { max-width: 1460px; flex-basis: 100%; }
figure img { width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.92em; color: #333; margin-top: 0.3em; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em 0; font-size: 0.92em; }
caption { text-align: left; font-weight: bold; padding-bottom: 0.3em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.55em; }
th { background: #eef1f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.total td { font-weight: bold; background: #f6f6f6; }
tr.data td { background: #f2f7ff; }
tr.chosen td { background: #fff0c2; font-weight: bold; }
td.warn { color: #b00; }
td.best { font-weight: bold; }
tr.flagged td { background: #ffecec; }
.note { font-size: 0.9em; color: #444; }
.warning { background: #fff4e0; border-left: 4px solid #e69f00; padding: 0.4em 0.8em; }
details summary { cursor: pointer; color: #0645ad; margin: 0.4em 0; }
code { background: #f4f4f4; padding: 0 0.2em; }
"""


def esc(x):
    return html.escape(str(x), quote=True)


def render_table(t):
    out = []
    if t.collapsed:
        out.append("<details><summary>%s</summary>" % esc(t.caption))
    out.append('<table id="%s">' % esc(t.id))
    if not t.collapsed:
        out.append("<caption>%s</caption>" % esc(t.caption))
    headers = t.header if (t.header and isinstance(t.header[0], (list, tuple))) else [t.header]
    out.append("<thead>")
    for hrow in headers:
        cells = []
        for h in hrow:
            if isinstance(h, tuple):  # (text, colspan)
                cells.append('<th colspan="%d">%s</th>' % (h[1], esc(h[0])))
            else:
                cells.append("<th>%s</th>" % esc(h))
        out.append("<tr>%s</tr>" % "".join(cells))
    out.append("</thead><tbody>")
    for row in t.rows:
        cls = None
        if isinstance(row, dict):
            cls, row = row.get("cls"), row["cells"]
        cells = []
        for c in row:
            if not isinstance(c, Cell):
                c = Cell(str(c)) if not isinstance(c, (int, float)) else num(c)
            attrs = []
            classes = []
            if c.numeric:
                classes.append("num")
            if c.cls:
                classes.append(c.cls)
            if classes:
                attrs.append('class="%s"' % " ".join(classes))
            if c.value is not None:
                attrs.append('data-value="%r"' % float(c.value))
            if c.title:
                attrs.append('title="%s"' % esc(c.title))
            cells.append("<td%s>%s</td>" % ((" " + " ".join(attrs)) if attrs else "", esc(c.text)))
        out.append("<tr%s>%s</tr>" % (' class="%s"' % cls if cls else "", "".join(cells)))
    out.append("</tbody></table>")
    if t.note:
        out.append('<p class="note">%s</p>' % esc(t.note))
    if t.collapsed:
        out.append("</details>")
    return "\n".join(out)


def render(title, sections, inputs, warnings):
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>%s</title><style>%s</style></head><body>" % (esc(title), CSS),
           "<h1>%s</h1>" % esc(title),
           '<p class="meta">bsmhunt report, made %s by tools/plot/report.py.</p>' % esc(now)]
    for w in warnings:
        out.append('<p class="warning">%s</p>' % esc(w))
    if inputs:
        out.append(render_table(Table("inputs", "Inputs", ["input", "file", "details"],
                                      [[Cell(k), Cell(p), Cell(d)] for k, p, d in inputs])))
    shown = [s for s in sections if s.items]
    if shown:
        out.append("<nav><ul>%s</ul></nav>" % "".join(
            '<li><a href="#%s">%s</a></li>' % (esc(s.id), esc(s.title)) for s in shown))
    for s in shown:
        out.append('<section id="%s"><h2>%s</h2>' % (esc(s.id), esc(s.title)))
        if s.intro:
            out.append("<p>%s</p>" % esc(s.intro))
        figs = []

        def flush():
            if figs:
                out.append('<div class="figures">%s</div>' % "".join(figs))
                figs.clear()

        for item in s.items:
            if isinstance(item, Figure):
                figs.append('<figure id="fig-%s"%s><a href="%s"><img src="%s" alt="%s"></a>'
                            "<figcaption>%s</figcaption></figure>" %
                            (esc(os.path.splitext(item.name)[0]), ' class="wide"' if item.wide else "",
                             esc(item.name), esc(item.name),
                             esc(item.title or item.caption), esc(item.caption)))
                continue
            flush()
            if isinstance(item, Table):
                out.append(render_table(item))
            elif isinstance(item, Text):
                body = item.text if item.raw else esc(item.text)
                out.append('<p%s>%s</p>' % (' class="%s"' % item.cls if item.cls else "", body))
        flush()
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out)
