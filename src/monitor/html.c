/* The drift report as one self-contained HTML page: inline CSS and SVG, no
 * script, no font or URL to fetch, so it can be mailed, archived or
 * printed as it is. */
#include "monitor_int.h"

#include <math.h>
#include <stdarg.h>

#include "skiff/buf.h"
#include "skiff/err.h"

/* Appends that remember their first failure, so the page is checked once. */
struct writer {
    struct skiff_buf *b;
    int rc;
};

static void wputs(struct writer *w, const char *s)
{
    int rc = skiff_buf_puts(w->b, s);
    if (rc && !w->rc)
        w->rc = rc;
}

static void wputc(struct writer *w, char c)
{
    int rc = skiff_buf_putc(w->b, c);
    if (rc && !w->rc)
        w->rc = rc;
}

static void wprintf(struct writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void wprintf(struct writer *w, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = skiff_buf_vappendf(w->b, fmt, ap);
    va_end(ap);
    if (rc && !w->rc)
        w->rc = rc;
}

/* Text content with &, <, >, " escaped. */
static void esc(struct writer *w, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': wputs(w, "&amp;"); break;
        case '<': wputs(w, "&lt;"); break;
        case '>': wputs(w, "&gt;"); break;
        case '"': wputs(w, "&quot;"); break;
        default: wputc(w, *s);
        }
    }
}

static const char css[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1d232b;"
    "background:#fff}\n"
    "h1{font-size:22px;margin:0 0 12px}h2{font-size:16px;margin:0 0 6px}\n"
    ".verdict{padding:14px 18px;border-radius:6px;font-size:17px;margin-bottom:18px}\n"
    ".drift{background:#fde2e1;border-left:6px solid #c62828}\n"
    ".ok{background:#e3f4e6;border-left:6px solid #2e7d32}\n"
    "table{border-collapse:collapse;margin-bottom:22px}\n"
    "td,th{border-bottom:1px solid #d5d9de;padding:5px 10px;text-align:left;font-size:13px}\n"
    "th{background:#f1f3f5}\n"
    ".col{display:inline-block;vertical-align:top;width:360px;margin:0 14px 18px 0;"
    "padding:10px;border:1px solid #d5d9de;border-radius:6px;break-inside:avoid}\n"
    ".meta{font-size:12px;color:#4a5561;margin-bottom:6px}\n"
    ".yes{color:#c62828;font-weight:600}.no{color:#2e7d32;font-weight:600}\n"
    ".legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}\n"
    "@media print{body{margin:8mm}.col{border-color:#999;page-break-inside:avoid}"
    ".verdict{-webkit-print-color-adjust:exact;print-color-adjust:exact}"
    "svg{-webkit-print-color-adjust:exact;print-color-adjust:exact}}\n";

/* Bars of reference (grey-blue) and current (orange) shares per bin. */
static void histogram(struct writer *w, const struct skiff_mon_col_result *c)
{
    const double W = 340, H = 150, top = 8, bottom = 22;
    double rn = (double)(c->ref.count - c->ref.infinite);
    double cn = (double)(c->cur.count - c->cur.infinite);
    double maxs = 0, bw;
    size_t nb = c->nbins;

    for (size_t i = 0; i < nb; i++) {
        maxs = fmax(maxs, (double)c->ref_hist[i] / rn);
        maxs = fmax(maxs, (double)c->cur_hist[i] / cn);
    }
    if (maxs <= 0)
        maxs = 1;
    bw = nb ? W / (double)nb : W;
    wprintf(w, "<svg width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
                         "role=\"img\">\n", W, H, W, H);
    wprintf(w, "<line x1=\"0\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#555\"/>\n",
                      H - bottom, W, H - bottom);
    for (size_t i = 0; i < nb; i++) {
        double rh = (double)c->ref_hist[i] / rn / maxs * (H - top - bottom);
        double ch = (double)c->cur_hist[i] / cn / maxs * (H - top - bottom);
        double x = (double)i * bw;
        wprintf(w, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                             "fill=\"#5b7fa6\"/>", x + bw * 0.08, H - bottom - rh, bw * 0.42, rh);
        wprintf(w, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                             "fill=\"#ef8a17\"/>\n", x + bw * 0.5, H - bottom - ch, bw * 0.42, ch);
        if (c->kind == SKIFF_MON_CAT && nb <= 12) {
            wprintf(w, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" "
                                 "text-anchor=\"middle\" fill=\"#333\">", x + bw / 2, H - 8);
            esc(w, c->labels[i]);
            wputs(w, "</text>\n");
        }
    }
    if (c->kind == SKIFF_MON_NUM) {
        wprintf(w, "<text x=\"0\" y=\"%.1f\" font-size=\"10\" fill=\"#333\">%.6g</text>"
                             "<text x=\"%.0f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\" "
                             "fill=\"#333\">%.6g</text>\n", H - 8, c->lo, W, H - 8, c->hi);
    }
    wputs(w, "</svg>\n");
}

int skiff_mon_report_html(const struct skiff_mon_report *r, struct skiff_buf *out,
                          struct skiff_err *err)
{
    struct writer wr = {out, 0}, *w = &wr;
    size_t start = out->len;

    wputs(w, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                      "<title>skiff drift report</title>\n<style>\n");
    wputs(w, css);
    wputs(w, "</style></head><body>\n<h1>Data drift report</h1>\n");
    wprintf(w, "<div class=\"verdict %s\"><b>%s</b>: %zu of %zu columns drifted "
                         "(share %.4g, dataset drift when share &ge; %.4g)</div>\n",
                      r->dataset_drift ? "drift" : "ok",
                      r->dataset_drift ? "Dataset drift detected" : "No dataset drift",
                      r->n_drifted, r->ncols, r->share, r->drift_share);
    wputs(w, "<table><tr><th>column</th><th>type</th><th>test</th><th>score</th>"
                      "<th>threshold</th><th>drift</th><th>missing (ref / cur)</th></tr>\n");
    for (size_t i = 0; i < r->ncols; i++) {
        const struct skiff_mon_col_result *c = &r->cols[i];
        wputs(w, "<tr><td>");
        esc(w, c->name);
        wprintf(w, "</td><td>%s</td><td>%s</td><td>%.6g</td><td>%g</td>"
                             "<td class=\"%s\">%s</td><td>%zu / %zu</td></tr>\n",
                          c->kind == SKIFF_MON_NUM ? "num" : "cat",
                          skiff_mon_test_display(c->test), c->score, c->threshold,
                          c->drift ? "yes" : "no", c->drift ? "detected" : "not detected",
                          c->ref.missing, c->cur.missing);
    }
    wputs(w, "</table>\n<div class=\"legend\"><span style=\"background:#5b7fa6\">"
                      "</span>reference<span style=\"background:#ef8a17\"></span>current</div>"
                      "\n<div>\n");
    for (size_t i = 0; i < r->ncols; i++) {
        const struct skiff_mon_col_result *c = &r->cols[i];
        wputs(w, "<div class=\"col\"><h2>");
        esc(w, c->name);
        wprintf(w, " <span class=\"%s\">%s</span></h2>\n<div class=\"meta\">%s: "
                             "%.6g (threshold %g)",
                          c->drift ? "yes" : "no", c->drift ? "drift" : "no drift",
                          skiff_mon_test_display(c->test), c->score, c->threshold);
        if (c->n_new_cats) {
            wputs(w, "; new in current: ");
            for (size_t k = 0; k < c->n_new_cats; k++) {
                if (k)
                    wputs(w, ", ");
                esc(w, c->labels[c->new_cats[k]]);
            }
        }
        if (c->ref.infinite || c->cur.infinite)
            wprintf(w, "; infinite values dropped: %zu / %zu", c->ref.infinite,
                              c->cur.infinite);
        wputs(w, "</div>\n");
        histogram(w, c);
        wputs(w, "</div>\n");
    }
    wputs(w, "</div>\n</body></html>\n");
    if (w->rc) {
        out->len = start;
        out->ptr[start] = '\0';
        return skiff_err_set(err, w->rc, "cannot write the HTML report: %s",
                             skiff_err_default_msg(w->rc));
    }
    return 0;
}
