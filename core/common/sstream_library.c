/*  =========================================================================
    sstream_library - library set-up and exit, versions, and small parsers

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_common.h"
#include <openssl/crypto.h>

#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>

static pthread_once_t s_init_once = PTHREAD_ONCE_INIT;

//  Actors still running, and the descriptor that tells them the process is
//  exiting (see sstream_actor_enter)
static pthread_mutex_t s_actors_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_actors_gone = PTHREAD_COND_INITIALIZER;
static int s_actors_live;
static int s_exit_fd = -1;

#define EXIT_GRACE_MS 2000      //  Longest wait for actors at exit

//  Runs at exit before CZMQ's own handler (registered after it), which
//  closes every socket left open and would do so under the feet of
//  actors still running: their threads would fail on CZMQ's assertions.
//  The actors stop first, as if destroyed.

static void
s_library_exit (void)
{
    if (s_exit_fd < 0)
        return;
    uint64_t one = 1;
    if (write (s_exit_fd, &one, sizeof (one)) != sizeof (one))
        return;
    struct timespec deadline;
    clock_gettime (CLOCK_REALTIME, &deadline);
    deadline.tv_sec += EXIT_GRACE_MS / 1000;
    pthread_mutex_lock (&s_actors_lock);
    while (s_actors_live > 0)
        if (pthread_cond_timedwait (&s_actors_gone, &s_actors_lock, &deadline) == ETIMEDOUT)
            break;
    pthread_mutex_unlock (&s_actors_lock);
}

static void
s_library_init (void)
{
    //  Before CZMQ creates its context: these only take effect then.
    zsys_handler_set (NULL);
    zsys_set_logstream (stderr);
    zsys_set_logsystem (false);
    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    size_t io_threads = cores > 1? (size_t) cores: 1;
    const char *env = getenv ("SSTREAM_IO_THREADS");
    if (env && atoi (env) > 0)
        io_threads = (size_t) atoi (env);
    if (io_threads > 16)
        io_threads = 16;
    zsys_set_io_threads (io_threads);
    //  We never rely on linger: every stream ends with an end-to-end
    //  acknowledgement. Closing a socket drops what is still queued.
    zsys_set_linger (0);
    if (sodium_init () < 0)
        sstream_log_error ("sstream: libsodium failed to initialise");
    //  OpenSSL would register an exit handler of its own on first use,
    //  after ours, so it would run first and free what our threads may
    //  still be using (a batch being sealed, a thread's state) while ours
    //  stops them: a crash at exit. Its state stays until the process ends.
    if (OPENSSL_init_crypto (OPENSSL_INIT_NO_ATEXIT, NULL) != 1)
        sstream_log_error ("sstream: OpenSSL failed to initialise");
    //  CZMQ registers its exit handler here; ours, registered after, runs
    //  before it
    zsys_init ();
    s_exit_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s_exit_fd >= 0)
        atexit (s_library_exit);
}

static atomic_bool s_sockets_made;

void
sstream_library_sockets_made (void)
{
    atomic_store (&s_sockets_made, true);
}

size_t
sstream_library_io_threads (size_t wanted)
{
    sstream_library_init ();
    void *context = zsys_init ();
    //  libzmq takes the number until its first socket starts the threads
    if (wanted && !atomic_load (&s_sockets_made))
        zmq_ctx_set (context, ZMQ_IO_THREADS, (int) wanted);
    int have = zmq_ctx_get (context, ZMQ_IO_THREADS);
    return have > 0? (size_t) have: 1;
}

int
sstream_actor_enter (void)
{
    sstream_library_init ();
    pthread_mutex_lock (&s_actors_lock);
    s_actors_live++;
    pthread_mutex_unlock (&s_actors_lock);
    return s_exit_fd;
}

void
sstream_actor_leave (void)
{
    //  OpenSSL's state for this thread (its error queue, most of all) goes
    //  now: a process that exits at once would not wait for the thread's
    //  own clean-up, and it would be left behind
    OPENSSL_thread_stop ();
    pthread_mutex_lock (&s_actors_lock);
    if (--s_actors_live == 0)
        pthread_cond_broadcast (&s_actors_gone);
    pthread_mutex_unlock (&s_actors_lock);
}

void
sstream_library_init (void)
{
    pthread_once (&s_init_once, s_library_init);
}


#define S_STR(x) #x
#define S_XSTR(x) S_STR (x)

const char *
sstream_version (void)
{
    return S_XSTR (SSTREAM_VERSION_MAJOR) "." S_XSTR (SSTREAM_VERSION_MINOR)
           "." S_XSTR (SSTREAM_VERSION_PATCH);
}




//  --------------------------------------------------------------------------
//  Sizes and durations

//  A number with perhaps a fraction ("12", "1.5"), as its whole part and
//  its fraction's digits over their scale (1.25: 1, 25, 100). Digits only,
//  and at most one point with a digit on each side: no sign, no exponent.

typedef struct {
    uint64_t whole;
    uint64_t fraction;
    uint64_t scale;             //  10 to the number of fraction digits
} s_decimal_t;

#define S_DECIMAL_JUNK     -1   //  Not a number where one must be
#define S_DECIMAL_OVERFLOW -2   //  Too many digits

static int
s_parse_decimal (const char **reader, s_decimal_t *number)
{
    const char *cursor = *reader;
    memset (number, 0, sizeof (*number));
    number->scale = 1;
    if (!isdigit ((unsigned char) *cursor))
        return S_DECIMAL_JUNK;
    for (; isdigit ((unsigned char) *cursor); cursor++) {
        uint64_t digit = (uint64_t) (*cursor - '0');
        if (number->whole > (UINT64_MAX - digit) / 10)
            return S_DECIMAL_OVERFLOW;
        number->whole = number->whole * 10 + digit;
    }
    if (*cursor == '.') {
        cursor++;
        if (!isdigit ((unsigned char) *cursor))
            return S_DECIMAL_JUNK;
        for (; isdigit ((unsigned char) *cursor); cursor++) {
            if (number->scale >= 1000000000000000000ULL)
                return S_DECIMAL_OVERFLOW;      //  18 digits after the point
            number->fraction = number->fraction * 10 + (uint64_t) (*cursor - '0');
            number->scale *= 10;
        }
    }
    *reader = cursor;
    return 0;
}

//  number times unit, its fraction dropped (*exact says whether there was
//  one): at most 2^64 x 2^42, well within 128 bits
static unsigned __int128
s_decimal_times (const s_decimal_t *number, uint64_t unit, bool *exact)
{
    unsigned __int128 fraction = (unsigned __int128) number->fraction * unit;
    *exact = fraction % number->scale == 0;
    return (unsigned __int128) number->whole * unit + fraction / number->scale;
}

int
sstream_parse_size (const char *text, uint64_t *size)
{
    if (!text || !size)
        return sstream_error_set (SSTREAM_EINVAL, "no size given");
    const char *reader = text;
    while (isspace ((unsigned char) *reader))
        reader++;
    s_decimal_t number;
    int rc = s_parse_decimal (&reader, &number);
    if (rc == S_DECIMAL_OVERFLOW)
        return sstream_error_set (SSTREAM_EINVAL, "size '%s' is too large", text);
    if (rc)
        return sstream_error_set (SSTREAM_EINVAL,
            "'%s' is not a size (examples: 4096, 64K, 1.5G, 2.5MiB)", text);
    static const struct {
        const char *suffix;
        uint64_t scale;
    } s_units [] = {
        { "", 1 }, { "B", 1 },
        { "K", 1000ULL }, { "KB", 1000ULL }, { "k", 1000ULL }, { "kB", 1000ULL },
        { "M", 1000ULL * 1000 }, { "MB", 1000ULL * 1000 },
        { "G", 1000ULL * 1000 * 1000 }, { "GB", 1000ULL * 1000 * 1000 },
        { "T", 1000ULL * 1000 * 1000 * 1000 }, { "TB", 1000ULL * 1000 * 1000 * 1000 },
        { "KiB", 1ULL << 10 }, { "MiB", 1ULL << 20 },
        { "GiB", 1ULL << 30 }, { "TiB", 1ULL << 40 },
    };
    size_t index;
    for (index = 0; index < sizeof (s_units) / sizeof (s_units [0]); index++) {
        if (streq (reader, s_units [index].suffix)) {
            uint64_t scale = s_units [index].scale;
            if (scale == 1 && number.scale > 1)
                return sstream_error_set (SSTREAM_EINVAL,
                    "'%s' is not a whole number of bytes", text);
            //  A fraction of a byte (1.3GiB) is dropped
            bool exact;
            unsigned __int128 bytes = s_decimal_times (&number, scale, &exact);
            if (bytes > UINT64_MAX)
                return sstream_error_set (SSTREAM_EINVAL, "size '%s' is too large", text);
            *size = (uint64_t) bytes;
            return SSTREAM_OK;
        }
    }
    return sstream_error_set (SSTREAM_EINVAL,
        "'%s' has an unknown unit '%s' (use K, M, G, KiB, MiB or GiB)", text, reader);
}

//  Longest duration: 10^12 seconds (about 31,700 years), so that a
//  duration in microseconds, or added to a clock, stays within 64 bits
#define S_DURATION_MAX_MS 1000000000000000LL

//  A unit of duration, as named at unit (length bytes): its milliseconds,
//  and its rank (a compound duration takes ranks in order, each once);
//  NULL if it is not one
typedef struct {
    const char *name;
    uint64_t msecs;
    int rank;
} s_duration_unit_t;

static const s_duration_unit_t *
s_duration_unit (const char *unit, size_t length)
{
    static const s_duration_unit_t s_units [] = {
        { "h", 3600000, 0 }, { "m", 60000, 1 }, { "min", 60000, 1 }, { "s", 1000, 2 },
        { "ms", 1, 3 }
    };
    size_t index;
    for (index = 0; index < sizeof (s_units) / sizeof (s_units [0]); index++)
        if (strlen (s_units [index].name) == length
        &&  strncmp (s_units [index].name, unit, length) == 0)
            return &s_units [index];
    return NULL;
}

int
sstream_parse_duration (const char *text, int64_t *msecs)
{
    if (!text || !msecs)
        return sstream_error_set (SSTREAM_EINVAL, "no duration given");
    const char *reader = text;
    while (isspace ((unsigned char) *reader))
        reader++;
    unsigned __int128 total = 0;
    int last_rank = -1;
    do {
        s_decimal_t number;
        int rc = s_parse_decimal (&reader, &number);
        if (rc == S_DECIMAL_OVERFLOW)
            return sstream_error_set (SSTREAM_EINVAL, "duration '%s' is too long", text);
        if (rc)
            return sstream_error_set (SSTREAM_EINVAL,
                "'%s' is not a duration (examples: 500ms, 10s, 1m30s, 1h30m)", text);
        const char *name = reader;
        while (isalpha ((unsigned char) *reader))
            reader++;
        size_t length = (size_t) (reader - name);
        //  A bare number is seconds, when it is the whole duration
        if (length == 0 && (last_rank >= 0 || *reader))
            return sstream_error_set (SSTREAM_EINVAL,
                "'%s' needs a unit after each number (ms, s, m or h)", text);
        const s_duration_unit_t *unit = length? s_duration_unit (name, length)
                                              : s_duration_unit ("s", 1);
        if (!unit)
            return sstream_error_set (SSTREAM_EINVAL,
                "'%s' has an unknown unit '%.*s' (use ms, s, m or h)", text, (int) length, name);
        if (unit->rank <= last_rank)
            return sstream_error_set (SSTREAM_EINVAL,
                "'%s': give hours, minutes, seconds and milliseconds in that order, "
                "each once (as 1h30m, 1m30s)", text);
        last_rank = unit->rank;
        bool exact;
        total += s_decimal_times (&number, unit->msecs, &exact);
        if (!exact)
            return sstream_error_set (SSTREAM_EINVAL,
                "'%s' is finer than a millisecond, the finest a duration counts", text);
        if (total > S_DURATION_MAX_MS)
            return sstream_error_set (SSTREAM_EINVAL, "duration '%s' is too long", text);
    } while (*reader);
    *msecs = (int64_t) total;
    return SSTREAM_OK;
}


//  --------------------------------------------------------------------------
//  Stream names

int
sstream_check_stream_name (const char *name)
{
    if (!name || !*name)
        return sstream_error_set (SSTREAM_EINVAL, "stream name is empty");
    size_t length = strlen (name);
    if (length > SSTREAM_STREAM_NAME_MAX)
        return sstream_error_set (SSTREAM_EINVAL,
            "stream name is %zu bytes long; the limit is %d", length,
            SSTREAM_STREAM_NAME_MAX);
    const char *reader;
    for (reader = name; *reader; reader++) {
        unsigned char c = (unsigned char) *reader;
        if (!(isalnum (c) || strchr ("._:/@+-", c)))
            return sstream_error_set (SSTREAM_EINVAL,
                "stream name '%.*s' has a character outside [A-Za-z0-9._:/@+-] at byte %zu",
                (int) length, name, (size_t) (reader - name));
    }
    return SSTREAM_OK;
}
