/* A progress bar on stderr for long reads and joins (features_int.h).
 *
 * Several threads may add to one bar: `done` is atomic, and only the
 * thread whose addition moves the shown percentage past the last one shown
 * (a compare-and-swap on `shown`) draws, so each percentage is drawn once.
 * The line is redrawn in place with '\r' and ended with '\n' by
 * features__progress_end.
 */
#include "features_int.h"

#include "skiff/time.h"

#include <stdio.h>
#include <string.h>

#define WIDTH 30

static void draw(const struct features__progress *p, int pct)
{
    static const char bar[] = "##############################";   /* WIDTH of them */
    double secs = (double)(skiff_time_mono_us() - p->t0) / 1e6;
    fprintf(stderr, "\r%-36.36s [%-*.*s] %3d%% %6.1fs", p->label, WIDTH, pct * WIDTH / 100, bar,
            pct, secs);
    fflush(stderr);
}

void features__progress_start(struct features__progress *p, bool on, const char *label,
                              uint64_t total)
{
    memset(p, 0, sizeof *p);
    p->on = on;
    p->total = total ? total : 1;
    p->t0 = skiff_time_mono_us();
    snprintf(p->label, sizeof p->label, "%s", label);
    atomic_init(&p->done, 0);
    atomic_init(&p->shown, -1);
    if (on)
        draw(p, 0);
}

void features__progress_add(struct features__progress *p, uint64_t n)
{
    uint64_t done;
    int pct, shown;
    if (!p || !p->on)
        return;
    done = atomic_fetch_add_explicit(&p->done, n, memory_order_relaxed) + n;
    pct = done >= p->total ? 100 : (int)(done * 100 / p->total);
    shown = atomic_load_explicit(&p->shown, memory_order_relaxed);
    if (pct > shown &&
        atomic_compare_exchange_strong_explicit(&p->shown, &shown, pct, memory_order_relaxed,
                                                memory_order_relaxed))
        draw(p, pct);
}

void features__progress_end(struct features__progress *p)
{
    int shown;
    if (!p || !p->on)
        return;
    /* what was reached: 100% after a whole run, less when an error stopped it */
    shown = atomic_load(&p->shown);
    draw(p, shown < 0 ? 0 : shown);
    fputc('\n', stderr);
    p->on = false;
}
