/*  =========================================================================
    pipe_progress - what send and recv show a person on standard error: a
    progress line while the stream runs, and a summary at its end

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    The progress line is redrawn in place ('\r') a few times a second.
    Other lines must not land in the middle of it, and the library writes
    its warnings to standard error from threads of its own, whenever they
    happen (a stream that resumes says so). So while the line is shown,
    standard error is a pipe, and one thread owns the terminal: it copies
    what comes through the pipe to the terminal after erasing the progress
    line, and draws the line again below it. Every line anybody writes
    arrives whole, and the progress line stays the last one.
*/

#define _GNU_SOURCE             //  pipe2
#include "pipe.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#if defined (__SANITIZE_ADDRESS__)
#   include <sanitizer/common_interface_defs.h>
#endif

#define REFRESH_MS      250     //  How often the line is drawn again
#define RATE_SAMPLES    8       //  The rate shown is over the last 2 s

struct _pipe_progress_t {
    char stream [SSTREAM_STREAM_NAME_MAX + 1];
    uint64_t total;                 //  Bytes expected, 0 if not known
    double opened;                  //  When the stream was opened
    atomic_uint_fast64_t bytes;     //  Moved so far (the main thread counts)
    atomic_bool begun;              //  The clock runs (begun_at is set)
    double begun_at;
    //  While the line is shown: standard error is a pipe, read by a thread
    bool shown;
    int terminal;                   //  What standard error was
    int pipe_fd;                    //  The pipe's reading end
    pthread_t thread;
    pthread_mutex_t lock;           //  Guards what follows, and the terminal
    char state [160];               //  Said instead of the rate, if set
    size_t drawn;                   //  Characters of the line on screen
    double samples_at [RATE_SAMPLES];
    uint64_t samples [RATE_SAMPLES];
    size_t next_sample;
};

static double
s_now (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return now.tv_sec + now.tv_nsec / 1e9;
}

void
pipe_human_bytes (char *text, size_t size, double bytes)
{
    const char *units [] = { "B", "kB", "MB", "GB", "TB", "PB" };
    int unit = 0;
    while (bytes >= 999.5 && unit < 5) {
        bytes /= 1000;
        unit++;
    }
    //  Three significant digits: 1.07 GB, 46.5 MB, 465 MB
    if (unit == 0)
        snprintf (text, size, "%.0f B", bytes);
    else
        snprintf (text, size, bytes < 9.995? "%.2f %s": bytes < 99.95? "%.1f %s": "%.0f %s",
                  bytes, units [unit]);
}

//  h:mm:ss, or m:ss under an hour
static void
s_clock (char *text, size_t size, double seconds)
{
    uint64_t whole = seconds > 0? (uint64_t) seconds: 0;
    if (whole < 3600)
        snprintf (text, size, "%u:%02u", (unsigned) (whole / 60), (unsigned) (whole % 60));
    else
        snprintf (text, size, "%llu:%02u:%02u", (unsigned long long) (whole / 3600),
                  (unsigned) (whole / 60 % 60), (unsigned) (whole % 60));
}

static void
s_write_all (int fd, const char *data, size_t size)
{
    while (size) {
        ssize_t done = write (fd, data, size);
        if (done < 0 && errno == EINTR)
            continue;
        if (done <= 0)
            return;                 //  Nowhere to say it: nothing to be done
        data += done;
        size -= (size_t) done;
    }
}

//  The bytes per second over the last samples, a sample taken every
//  refresh at most; self->lock held
static double
s_recent_rate (pipe_progress_t *self, double now, uint64_t bytes)
{
    size_t newest = (self->next_sample + RATE_SAMPLES - 1) % RATE_SAMPLES;
    if (now - self->samples_at [newest] >= REFRESH_MS / 1000.0 * 0.8) {
        self->samples_at [self->next_sample] = now;
        self->samples [self->next_sample] = bytes;
        self->next_sample = (self->next_sample + 1) % RATE_SAMPLES;
    }
    //  The oldest: the next to be taken, or the first while the ring fills
    size_t oldest = self->samples_at [self->next_sample] > 0? self->next_sample: 0;
    double since = self->samples_at [oldest];
    uint64_t then = self->samples [oldest];
    if (now - since > 0.1)
        return (bytes - then) / (now - since);
    //  Too soon to tell from the samples: the average so far
    double begun = atomic_load (&self->begun)? now - self->begun_at: 0;
    return begun > 0.01? bytes / begun: 0;
}

//  Erase the line from the screen; self->lock held
static void
s_erase (pipe_progress_t *self)
{
    if (!self->drawn)
        return;
    char blank [512];
    size_t width = self->drawn < sizeof (blank) - 2? self->drawn: sizeof (blank) - 2;
    blank [0] = '\r';
    memset (blank + 1, ' ', width);
    blank [width + 1] = '\r';
    s_write_all (self->terminal, blank, width + 2);
    self->drawn = 0;
}

//  Draw the line again; self->lock held
static void
s_draw (pipe_progress_t *self)
{
    double now = s_now ();
    uint64_t bytes = atomic_load (&self->bytes);
    bool begun = atomic_load (&self->begun);
    double rate = s_recent_rate (self, now, bytes);
    char line [512], moved [32], total [32], speed [32], elapsed [32];
    pipe_human_bytes (moved, sizeof (moved), (double) bytes);
    s_clock (elapsed, sizeof (elapsed), now - (begun? self->begun_at: self->opened));
    int length;
    if (*self->state)
        length = snprintf (line, sizeof (line), "%s: %s: %s%s%s, %s elapsed", pipe_command,
                           self->stream, bytes || begun? moved: "", bytes || begun? ", ": "",
                           self->state, elapsed);
    else {
        pipe_human_bytes (speed, sizeof (speed), rate);
        length = snprintf (line, sizeof (line), "%s: %s: %s", pipe_command, self->stream, moved);
        if (self->total) {
            pipe_human_bytes (total, sizeof (total), (double) self->total);
            length += snprintf (line + length, sizeof (line) - (size_t) length, " of %s (%.0f%%)",
                                total, bytes >= self->total? 100.0: 100.0 * bytes / self->total);
        }
        length += snprintf (line + length, sizeof (line) - (size_t) length, " at %s/s, %s elapsed",
                            speed, elapsed);
        if (self->total && bytes < self->total) {
            char left [32] = "-:--";
            if (rate > 0)
                s_clock (left, sizeof (left), (self->total - bytes) / rate);
            length += snprintf (line + length, sizeof (line) - (size_t) length, ", ETA %s", left);
        }
    }
    size_t size = length > 0? (size_t) length: 0;
    if (size >= sizeof (line))
        size = sizeof (line) - 1;
    //  A line that wraps cannot be drawn again in place: cut it to fit
    struct winsize window;
    if (ioctl (self->terminal, TIOCGWINSZ, &window) == 0 && window.ws_col > 1
    &&  size > (size_t) window.ws_col - 1)
        size = (size_t) window.ws_col - 1;
    char text [1100];
    size_t used = 0;
    text [used++] = '\r';
    memcpy (text + used, line, size);
    used += size;
    //  Blank what a longer line before left
    size_t pad = self->drawn > size? self->drawn - size: 0;
    if (pad > sizeof (text) - used)
        pad = sizeof (text) - used;
    memset (text + used, ' ', pad);
    used += pad;
    s_write_all (self->terminal, text, used);
    self->drawn = size + pad;
}

static void *
s_display (void *args)
{
    pipe_progress_t *self = (pipe_progress_t *) args;
    char buffer [4096];
    bool mid_line = false;          //  What came last did not end its line
    double drawn_at = 0;
    while (true) {
        struct pollfd item = { self->pipe_fd, POLLIN, 0 };
        int ready = poll (&item, 1, REFRESH_MS);
        if (ready < 0 && errno != EINTR)
            break;
        if (ready > 0) {
            ssize_t got = read (self->pipe_fd, buffer, sizeof (buffer));
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0)
                break;              //  Standard error was given back
            pthread_mutex_lock (&self->lock);
            s_erase (self);
            s_write_all (self->terminal, buffer, (size_t) got);
            mid_line = buffer [got - 1] != '\n';
            pthread_mutex_unlock (&self->lock);
        }
        pthread_mutex_lock (&self->lock);
        double now = s_now ();
        if (!mid_line && (!self->drawn || now - drawn_at >= REFRESH_MS / 1000.0)) {
            s_draw (self);
            drawn_at = now;
        }
        pthread_mutex_unlock (&self->lock);
    }
    return NULL;
}

//  Standard error becomes a pipe that the display thread reads; false if
//  that cannot be (then there is no progress line)
static bool
s_show (pipe_progress_t *self)
{
    int ends [2];
    self->terminal = fcntl (STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    if (self->terminal < 0)
        return false;
    if (pipe2 (ends, O_CLOEXEC) != 0) {
        close (self->terminal);
        return false;
    }
    fflush (stderr);
    if (dup2 (ends [1], STDERR_FILENO) < 0) {
        close (ends [0]);
        close (ends [1]);
        close (self->terminal);
        return false;
    }
    close (ends [1]);
    self->pipe_fd = ends [0];
#if defined (__SANITIZE_ADDRESS__)
    //  A sanitizer's report must reach the terminal even if it ends us
    __sanitizer_set_report_fd ((void *) (intptr_t) self->terminal);
#endif
    if (pthread_create (&self->thread, NULL, s_display, self) != 0) {
        dup2 (self->terminal, STDERR_FILENO);
        close (self->terminal);
        close (self->pipe_fd);
        return false;
    }
    return true;
}

pipe_progress_t *
pipe_progress_new (const char *stream, bool show, uint64_t total)
{
    pipe_progress_t *self = (pipe_progress_t *) calloc (1, sizeof (pipe_progress_t));
    if (!self)
        return NULL;
    snprintf (self->stream, sizeof (self->stream), "%s", stream);
    self->total = total;
    self->opened = s_now ();
    atomic_init (&self->bytes, 0);
    atomic_init (&self->begun, false);
    pthread_mutex_init (&self->lock, NULL);
    self->shown = show && s_show (self);
    return self;
}

void
pipe_progress_begin (pipe_progress_t *self)
{
    if (self && !atomic_load (&self->begun)) {
        self->begun_at = s_now ();
        atomic_store (&self->begun, true);
    }
}

void
pipe_progress_add (pipe_progress_t *self, uint64_t bytes)
{
    if (self)
        atomic_fetch_add (&self->bytes, bytes);
}

void
pipe_progress_state (pipe_progress_t *self, const char *state)
{
    if (!self)
        return;
    pthread_mutex_lock (&self->lock);
    snprintf (self->state, sizeof (self->state), "%s", state? state: "");
    pthread_mutex_unlock (&self->lock);
}

double
pipe_progress_seconds (pipe_progress_t *self)
{
    if (!self || !atomic_load (&self->begun))
        return 0;
    return s_now () - self->begun_at;
}

void
pipe_progress_destroy (pipe_progress_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pipe_progress_t *self = *self_p;
    if (self->shown) {
        //  The pipe's last writer goes: the thread copies what is left in
        //  it, and ends
        fflush (stderr);
        dup2 (self->terminal, STDERR_FILENO);
#if defined (__SANITIZE_ADDRESS__)
        __sanitizer_set_report_fd ((void *) (intptr_t) STDERR_FILENO);
#endif
        pthread_join (self->thread, NULL);
        s_erase (self);
        close (self->terminal);
        close (self->pipe_fd);
    }
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

void
pipe_summary (const char *stream, uint64_t bytes, uint64_t records, double seconds,
              const char *checksum, uint64_t resumes)
{
    char human [32], rate [32], resumed [64] = "";
    pipe_human_bytes (human, sizeof (human), (double) bytes);
    pipe_human_bytes (rate, sizeof (rate), seconds > 0? bytes / seconds: 0);
    if (resumes == 1)
        snprintf (resumed, sizeof (resumed), ", resumed once");
    else
    if (resumes > 1)
        snprintf (resumed, sizeof (resumed), ", resumed %llu times", (unsigned long long) resumes);
    fprintf (stderr, "%s: %s: %llu bytes (%s) in %llu record%s, %.2f s, %s/s, checksum %s "
             "(xxh3-128)%s\n", pipe_command, stream, (unsigned long long) bytes, human,
             (unsigned long long) records, records == 1? "": "s", seconds, rate,
             checksum? checksum: "unknown", resumed);
}
