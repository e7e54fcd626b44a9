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

int
sstream_parse_size (const char *text, uint64_t *size)
{
    if (!text || !size)
        return sstream_error_set (SSTREAM_EINVAL, "no size given");
    const char *reader = text;
    while (isspace ((unsigned char) *reader))
        reader++;
    if (!isdigit ((unsigned char) *reader))
        return sstream_error_set (SSTREAM_EINVAL,
            "'%s' is not a size (examples: 4096, 64K, 1MiB, 2G)", text);
    errno = 0;
    char *end;
    unsigned long long number = strtoull (reader, &end, 10);
    if (errno == ERANGE)
        return sstream_error_set (SSTREAM_EINVAL, "size '%s' is too large", text);
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
        if (streq (end, s_units [index].suffix)) {
            uint64_t scale = s_units [index].scale;
            if (number > UINT64_MAX / scale)
                return sstream_error_set (SSTREAM_EINVAL, "size '%s' is too large", text);
            *size = number * scale;
            return SSTREAM_OK;
        }
    }
    return sstream_error_set (SSTREAM_EINVAL,
        "'%s' has an unknown unit '%s' (use K, M, G, KiB, MiB or GiB)", text, end);
}

int
sstream_parse_duration (const char *text, int64_t *msecs)
{
    if (!text || !msecs)
        return sstream_error_set (SSTREAM_EINVAL, "no duration given");
    const char *reader = text;
    while (isspace ((unsigned char) *reader))
        reader++;
    if (!isdigit ((unsigned char) *reader))
        return sstream_error_set (SSTREAM_EINVAL,
            "'%s' is not a duration (examples: 500ms, 10s, 2m)", text);
    errno = 0;
    char *end;
    double number = strtod (reader, &end);
    if (errno == ERANGE || number > 1e12)
        return sstream_error_set (SSTREAM_EINVAL, "duration '%s' is too long", text);
    double scale;
    if (streq (end, "ms"))
        scale = 1;
    else
    if (streq (end, "s") || streq (end, ""))
        scale = 1000;
    else
    if (streq (end, "m") || streq (end, "min"))
        scale = 60000;
    else
    if (streq (end, "h"))
        scale = 3600000;
    else
        return sstream_error_set (SSTREAM_EINVAL,
            "'%s' has an unknown unit '%s' (use ms, s, m or h)", text, end);
    *msecs = (int64_t) (number * scale);
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
