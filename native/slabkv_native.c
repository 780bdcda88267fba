/*
 * slabkv_native: the few things Node cannot do from JavaScript, for every thread of a process.
 *
 * 1. A per-process file lock. flock(2) locks belong to an open file description, so the process keeps ONE
 *    descriptor per store file here, in memory shared by all threads, with a reference count. Every thread that
 *    opens the file takes a reference; the lock is released when the last reference goes. References held by a
 *    worker thread that exits without closing are dropped by an environment cleanup hook, so a dead thread never
 *    leaves the file locked. (fs-ext gives flock too, but is a NAN addon whose init crashes the process when loaded
 *    in a second worker; this file is Node-API and context-aware.)
 * 2. The mapping. Each thread maps the file once, MAP_SHARED, over the whole 1 GiB a store may reach: the address
 *    never moves, so a view made before the file grew stays valid. JavaScript sees it through ArrayBuffers that
 *    end at the file's end (touching pages past the end of the file would raise SIGBUS); a larger one is made when
 *    the file grows. unmap detaches every such ArrayBuffer the mapping ever handed out (their views read as empty
 *    from then on, never as freed memory) and then unmaps, at close: not when the garbage collector gets to it.
 * 3. Thread liveness: every thread that loads this addon gets a unique token; the token is dead once the thread's
 *    environment is torn down. The store's lock word holds the owner's token, so a waiter can tell a dead owner.
 * 4. futex wait and wake on a word of a shared mapping: Atomics.wait works only on a SharedArrayBuffer.
 * 5. posix_fallocate: grow the file with real blocks, so a full disk is an error and never a SIGBUS.
 * 6. punch: give a FREE span's blocks back to the file system (fallocate PUNCH_HOLE, the file's length kept).
 * 7. The open mark: the unique id of the mount a file is open through (statx), and the clock the kernel stamps
 *    file times from (CLOCK_REALTIME_COARSE).
 *
 * Failures, one convention throughout:
 * - An operating-system call that fails (a failed allocation counts as one: ENOMEM) is an outcome the caller
 *   handles. Every call that can meet one returns a number: >= 0 on success (0, or the id it made), -errno on
 *   failure. These are acquire, map, unmap, sync, prefault, allocate and punch; nothing they change stays half done.
 *   mountId and coarseClock only read what the OS knows, and give 0 where it gives nothing (a failed statx or
 *   clock_gettime included), which their caller takes as "unknown".
 * - Anything else is a bug in the caller or a broken process, and throws: a missing or mistyped argument (a
 *   TypeError, never a default such as fd -1 or offset 0), an unknown id, a range outside a buffer or mapping, a
 *   Node-API call that fails (NODE_API_CALL below, checked for every call), memory exhausted where the call has no
 *   number to return (view).
 * - Nothing aborts the process. Where JavaScript cannot run (the environment's cleanup hook), failures are let go:
 *   the thread is ending, and what it held is given back as far as it can be.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

/* Thread tokens stay clear of bit 31, which the store's lock word uses to flag waiters. */
#define TOKEN_LIMIT 0x7fffffffu
/* How often acquire retries when the path was replaced between open(2) and flock(2). */
#define ACQUIRE_ATTEMPTS 16

/*
 * NODE_API_CALL runs a Node-API call and, if it fails, throws its error (unless one is already pending) and returns
 * from the calling function: NULL, or ret with NODE_API_CALL_BASE. As in Node's own js-native-api tests.
 */
#define NODE_API_CALL_BASE(env, call, ret) \
  do {                                     \
    if ((call) != napi_ok) {               \
      throw_last_error(env);               \
      return ret;                          \
    }                                      \
  } while (0)
#define NODE_API_CALL(env, call) NODE_API_CALL_BASE(env, call, NULL)

static void throw_last_error(napi_env env) {
  const napi_extended_error_info* info = NULL;
  const char* message = NULL;
  if (napi_get_last_error_info(env, &info) == napi_ok && info) message = info->error_message;
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return;
  napi_throw_error(env, NULL, message ? message : "slabkv_native: a Node-API call failed");
}

typedef struct FileLock {
  struct FileLock* next;
  dev_t dev;
  ino_t ino;
  int fd;
  uint32_t id;
  uint32_t refs;
  uint32_t prepared; /* the file has been checked (and, if need be, recovered) by a thread of this process */
  pthread_mutex_t setup; /* serialises open and close of one store among the process's threads */
} FileLock;

typedef struct ThreadRef { /* one per (thread, lock) pair: what the cleanup hook must give back */
  struct ThreadRef* next;
  uint32_t lock_id;
  uint32_t count;
} ThreadRef;

typedef struct Mapping {
  struct Mapping* next;
  uint32_t id;
  void* addr;
  size_t length;
  napi_ref* views; /* weak references to every view made of it: unmap detaches each that is still alive */
  size_t view_count;
} Mapping;

typedef struct ThreadState {
  uint32_t token;
  ThreadRef* refs;
  Mapping* mappings; /* this thread's mappings: unmapped by the cleanup hook if the thread ends without close */
  pthread_mutex_t* setup_held; /* a thread terminated while opening must not leave the setup mutex locked */
} ThreadState;

typedef struct LiveToken {
  struct LiveToken* next;
  uint32_t token;
} LiveToken;

/* Guards the lists below and every FileLock's refs and prepared. Held only for list work, never across a call that
   may wait on the file system: flock(2) and stat(2) run under acquire_mutex alone. */
static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;
/* Serialises acquire among threads: two threads locking the same new file would each open their own descriptor,
   and flock(2) would refuse the second as if another process held the file. Taken before registry_mutex. */
static pthread_mutex_t acquire_mutex = PTHREAD_MUTEX_INITIALIZER;
static FileLock* locks = NULL;
static LiveToken* live_tokens = NULL;
static uint32_t next_lock_id = 1;
static uint32_t next_mapping_id = 1;
static uint32_t next_token = 1;

static FileLock* find_lock_by_id(uint32_t id) {
  for (FileLock* l = locks; l; l = l->next) if (l->id == id) return l;
  return NULL;
}

/* Drops one reference, freeing the lock (and letting go of the flock) with the last. Caller holds registry_mutex
   and not the lock's setup mutex. */
static void unref_lock(FileLock* lock) {
  if (--lock->refs > 0) return;
  FileLock** p = &locks;
  while (*p != lock) p = &(*p)->next;
  *p = lock->next;
  flock(lock->fd, LOCK_UN);
  close(lock->fd);
  pthread_mutex_destroy(&lock->setup);
  free(lock);
}

/* Counts a reference of this thread to the lock. A new entry is taken from *spare (allocated before the lock was
   taken, so this cannot fail), which is then set to NULL. Caller holds registry_mutex. */
static void thread_add_ref(ThreadState* ts, uint32_t lock_id, ThreadRef** spare) {
  for (ThreadRef* r = ts->refs; r; r = r->next) if (r->lock_id == lock_id) { r->count++; return; }
  ThreadRef* r = *spare;
  *spare = NULL;
  r->lock_id = lock_id;
  r->count = 1;
  r->next = ts->refs;
  ts->refs = r;
}

static int thread_drop_ref(ThreadState* ts, uint32_t lock_id) {
  for (ThreadRef** p = &ts->refs; *p; p = &(*p)->next) {
    ThreadRef* r = *p;
    if (r->lock_id != lock_id) continue;
    if (--r->count == 0) { *p = r->next; free(r); }
    return 1;
  }
  return 0;
}

static void thread_cleanup(void* arg) {
  ThreadState* ts = arg;
  for (Mapping* m = ts->mappings; m;) {
    Mapping* next = m->next;
    munmap(m->addr, m->length);
    free(m->views); /* the references themselves go with the environment */
    free(m);
    m = next;
  }
  if (ts->setup_held) pthread_mutex_unlock(ts->setup_held);
  pthread_mutex_lock(&registry_mutex);
  for (ThreadRef* r = ts->refs; r;) {
    FileLock* lock = find_lock_by_id(r->lock_id);
    for (uint32_t i = 0; lock && i < r->count; i++) {
      uint32_t before = lock->refs;
      unref_lock(lock);
      if (before == 1) lock = NULL;
    }
    ThreadRef* next = r->next;
    free(r);
    r = next;
  }
  for (LiveToken** p = &live_tokens; *p; p = &(*p)->next) {
    if ((*p)->token == ts->token) { LiveToken* dead = *p; *p = dead->next; free(dead); break; }
  }
  pthread_mutex_unlock(&registry_mutex);
  free(ts);
}

/* ---- arguments and results ---- */

static napi_value make_u32(napi_env env, uint32_t v) {
  napi_value r;
  NODE_API_CALL(env, napi_create_uint32(env, v, &r));
  return r;
}

static napi_value make_i32(napi_env env, int32_t v) {
  napi_value r;
  NODE_API_CALL(env, napi_create_int32(env, v, &r));
  return r;
}

static napi_value make_bool(napi_env env, int v) {
  napi_value r;
  NODE_API_CALL(env, napi_get_boolean(env, v, &r));
  return r;
}

/* os_result: the result of a call whose OS call succeeded (err 0) or failed with errno err: 0 or -err. */
static napi_value os_result(napi_env env, int err) {
  return make_i32(env, err ? -err : 0);
}

static ThreadState* thread_state(napi_env env) {
  void* data = NULL;
  NODE_API_CALL(env, napi_get_instance_data(env, &data));
  if (!data) napi_throw_error(env, NULL, "slabkv_native: not initialised in this thread");
  return data;
}

/* get_args fetches exactly n arguments; throws and returns 0 when fewer were passed. */
static int get_args(napi_env env, napi_callback_info info, size_t n, napi_value* argv) {
  size_t argc = n;
  NODE_API_CALL_BASE(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL), 0);
  if (argc < n) {
    napi_throw_type_error(env, NULL, "slabkv_native: missing argument");
    return 0;
  }
  return 1;
}

static int arg_u32(napi_env env, napi_value v, uint32_t* out) {
  if (napi_get_value_uint32(env, v, out) == napi_ok) return 1;
  napi_throw_type_error(env, NULL, "slabkv_native: expected a number");
  return 0;
}

static int arg_i32(napi_env env, napi_value v, int32_t* out) {
  if (napi_get_value_int32(env, v, out) == napi_ok) return 1;
  napi_throw_type_error(env, NULL, "slabkv_native: expected a number");
  return 0;
}

static int arg_size(napi_env env, napi_value v, double* out) {
  if (napi_get_value_double(env, v, out) == napi_ok && *out >= 0 && *out <= 9007199254740991.0) return 1;
  napi_throw_type_error(env, NULL, "slabkv_native: expected a non-negative size");
  return 0;
}

/*
 * arg_path copies a string argument into *out (to be freed). Returns 0 having thrown when it is not a string;
 * else 1 with *err 0, or ENOMEM, or EINVAL when the string holds a NUL (it names no file).
 */
static int arg_path(napi_env env, napi_value v, char** out, int* err) {
  size_t len = 0;
  *out = NULL;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "slabkv_native: path must be a string");
    return 0;
  }
  char* path = malloc(len + 1);
  if (!path) { *err = ENOMEM; return 1; }
  if (napi_get_value_string_utf8(env, v, path, len + 1, &len) != napi_ok) {
    free(path);
    throw_last_error(env);
    return 0;
  }
  if (strlen(path) != len) { free(path); *err = EINVAL; return 1; }
  *out = path;
  *err = 0;
  return 1;
}

/* ---- the process's file lock ---- */

/* open_regular opens the file at path read-write, never creating it: 0 with *fd and *st, or an errno. */
static int open_regular(const char* path, int* fd, struct stat* st) {
  *fd = open(path, O_RDWR | O_CLOEXEC);
  if (*fd < 0) return errno;
  int err = fstat(*fd, st) != 0 ? errno : S_ISDIR(st->st_mode) ? EISDIR : !S_ISREG(st->st_mode) ? EINVAL : 0;
  if (err) { close(*fd); *fd = -1; }
  return err;
}

/* ref_existing takes a reference on the process's lock of the file st describes, if there is one. */
static FileLock* ref_existing(const struct stat* st) {
  pthread_mutex_lock(&registry_mutex);
  FileLock* lock = locks;
  while (lock && !(lock->dev == st->st_dev && lock->ino == st->st_ino)) lock = lock->next;
  if (lock) lock->refs++;
  pthread_mutex_unlock(&registry_mutex);
  return lock;
}

/*
 * lock_new takes the OS lock on fd and makes it the process's lock of the file, with one reference: 0 with *out,
 * an errno, or -1 when path no longer names the file fd is (a store created, renamed into place, meanwhile: the
 * caller opens the path again). On failure fd is left to the caller to close, which lets go of any flock.
 */
static int lock_new(const char* path, int fd, const struct stat* st, FileLock** out) {
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) return errno;
  struct stat now;
  if (stat(path, &now) != 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino) return -1;
  FileLock* lock = calloc(1, sizeof *lock);
  if (!lock) return ENOMEM;
  int err = pthread_mutex_init(&lock->setup, NULL);
  if (err) { free(lock); return err; }
  lock->dev = st->st_dev;
  lock->ino = st->st_ino;
  lock->fd = fd;
  lock->refs = 1;
  pthread_mutex_lock(&registry_mutex);
  lock->id = next_lock_id++;
  lock->next = locks;
  locks = lock;
  pthread_mutex_unlock(&registry_mutex);
  *out = lock;
  return 0;
}

/* take_lock finds or makes the process's lock of the file at path, with a reference for the caller: 0 or an errno. */
static int take_lock(const char* path, FileLock** out) {
  int err = ENOENT; /* the path kept naming another file: as if it were gone */
  pthread_mutex_lock(&acquire_mutex);
  for (int attempt = 0; attempt < ACQUIRE_ATTEMPTS; attempt++) {
    int fd;
    struct stat st;
    err = open_regular(path, &fd, &st);
    if (err) break;
    *out = ref_existing(&st);
    if (*out) { close(fd); break; }
    err = lock_new(path, fd, &st, out);
    if (err == 0) break;
    close(fd);
    if (err > 0) break;
    err = ENOENT;
  }
  pthread_mutex_unlock(&acquire_mutex);
  return err;
}

/*
 * acquire(path): opens the file (never creating it) and takes the process's lock on it, with a reference for this
 * thread: the lock's id (>= 1), or -errno: -ENOENT when the file does not exist, -EWOULDBLOCK when another process
 * holds it, -EISDIR or -EINVAL when it is a directory or not a regular file (or the path holds a NUL).
 */
static napi_value acquire(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  char* path;
  int err;
  if (!get_args(env, info, 1, argv) || !arg_path(env, argv[0], &path, &err)) return NULL;
  ThreadState* ts = thread_state(env);
  ThreadRef* spare = calloc(1, sizeof *spare); /* taken now: nothing may fail once the lock is held */
  FileLock* lock = NULL;
  if (!err && !ts) err = -1; /* thrown */
  if (!err && !spare) err = ENOMEM;
  if (!err) err = take_lock(path, &lock);
  free(path);
  napi_value result = NULL;
  if (!err) {
    result = make_u32(env, lock->id);
    pthread_mutex_lock(&registry_mutex);
    if (result) thread_add_ref(ts, lock->id, &spare);
    else unref_lock(lock);
    pthread_mutex_unlock(&registry_mutex);
  } else if (err > 0) {
    result = os_result(env, err);
  }
  free(spare);
  return result;
}

/* With the registry mutex held: the lock of that id, or NULL having thrown. */
static FileLock* known_lock(napi_env env, uint32_t id) {
  FileLock* lock = find_lock_by_id(id);
  if (!lock) napi_throw_error(env, NULL, "slabkv_native: no such lock in this process");
  return lock;
}

/* descriptor(lockId): the process's descriptor of the locked file, read-write, for mapping and growing it. */
static napi_value descriptor(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  uint32_t id;
  if (!get_args(env, info, 1, argv) || !arg_u32(env, argv[0], &id)) return NULL;
  pthread_mutex_lock(&registry_mutex);
  FileLock* lock = known_lock(env, id);
  int fd = lock ? lock->fd : -1;
  pthread_mutex_unlock(&registry_mutex);
  return lock ? make_i32(env, fd) : NULL;
}

/* references(lockId): how many references the process holds (0 when unknown). */
static napi_value references(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  uint32_t id;
  if (!get_args(env, info, 1, argv) || !arg_u32(env, argv[0], &id)) return NULL;
  pthread_mutex_lock(&registry_mutex);
  FileLock* lock = find_lock_by_id(id);
  uint32_t refs = lock ? lock->refs : 0;
  pthread_mutex_unlock(&registry_mutex);
  return make_u32(env, refs);
}

/* setupEnter(lockId): locks the store's setup mutex; returns whether the file is already prepared. The caller
   holds a reference, so the lock cannot be freed while this waits. */
static napi_value setup_enter(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  uint32_t id;
  if (!get_args(env, info, 1, argv) || !arg_u32(env, argv[0], &id)) return NULL;
  ThreadState* ts = thread_state(env);
  if (!ts) return NULL;
  pthread_mutex_lock(&registry_mutex);
  FileLock* lock = find_lock_by_id(id);
  pthread_mutex_unlock(&registry_mutex);
  if (!lock || ts->setup_held) {
    napi_throw_error(env, NULL, "setupEnter: unknown lock, or this thread already holds a setup mutex");
    return NULL;
  }
  napi_value prepared_value = NULL;
  pthread_mutex_lock(&lock->setup);
  ts->setup_held = &lock->setup;
  pthread_mutex_lock(&registry_mutex);
  int prepared = (int)lock->prepared;
  pthread_mutex_unlock(&registry_mutex);
  prepared_value = make_bool(env, prepared);
  if (!prepared_value) { ts->setup_held = NULL; pthread_mutex_unlock(&lock->setup); } /* thrown: not entered */
  return prepared_value;
}

/*
 * setupLeave(lockId, prepared, release): records whether the file is prepared, drops this thread's reference when
 * release is 1, and unlocks the setup mutex, all under the registry mutex: a thread closing at the same moment
 * sees either both references or one, never a count that is about to change.
 */
static napi_value setup_leave(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  uint32_t id, prepared, drop;
  if (!get_args(env, info, 3, argv) || !arg_u32(env, argv[0], &id) || !arg_u32(env, argv[1], &prepared) ||
      !arg_u32(env, argv[2], &drop)) return NULL;
  ThreadState* ts = thread_state(env);
  if (!ts) return NULL;
  pthread_mutex_lock(&registry_mutex);
  FileLock* lock = find_lock_by_id(id);
  if (!lock || ts->setup_held != &lock->setup) {
    pthread_mutex_unlock(&registry_mutex);
    napi_throw_error(env, NULL, "setupLeave: this thread does not hold that store's setup mutex");
    return NULL;
  }
  lock->prepared = prepared;
  pthread_mutex_unlock(&lock->setup);
  ts->setup_held = NULL;
  if (drop && thread_drop_ref(ts, id)) unref_lock(lock);
  pthread_mutex_unlock(&registry_mutex);
  return NULL;
}

/* ---- the mapping ---- */

/* map(fd, length): the id (>= 1) of a new shared read-write mapping of the file's first length bytes, or -errno. */
static napi_value map_file(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  double length;
  if (!get_args(env, info, 2, argv) || !arg_i32(env, argv[0], &fd) || !arg_size(env, argv[1], &length)) return NULL;
  ThreadState* ts = thread_state(env);
  if (!ts) return NULL;
  Mapping* m = calloc(1, sizeof *m);
  if (!m) return os_result(env, ENOMEM);
  /* The kernel's default read-ahead is kept (as LMDB keeps it): it backs off by itself when faults miss, and
   * MADV_RANDOM made the kernel cache the file a page at a time, so that every new page of a growing file cost a
   * fault and a first write of its own: 64 MiB of new file prefaulted and written took 145 ms with it, 82 without. */
  void* addr = mmap(NULL, (size_t)length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (addr == MAP_FAILED) {
    int err = errno;
    free(m);
    return os_result(env, err);
  }
  m->addr = addr;
  m->length = (size_t)length;
  pthread_mutex_lock(&registry_mutex);
  m->id = next_mapping_id++;
  pthread_mutex_unlock(&registry_mutex);
  napi_value result = make_i32(env, (int32_t)m->id);
  if (!result) { munmap(addr, m->length); free(m); return NULL; }
  m->next = ts->mappings;
  ts->mappings = m;
  return result;
}

/* The link to this thread's mapping of that id, or NULL having thrown. */
static Mapping** find_mapping(napi_env env, uint32_t id) {
  ThreadState* ts = thread_state(env);
  if (!ts) return NULL;
  for (Mapping** p = &ts->mappings; *p; p = &(*p)->next) if ((*p)->id == id) return p;
  napi_throw_error(env, NULL, "slabkv_native: no such mapping in this thread");
  return NULL;
}

/* view(id, length): an ArrayBuffer over the mapping's first length bytes. The memory is the mapping's: the
   ArrayBuffer frees nothing when collected, and unmap detaches it first. */
static napi_value view(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  uint32_t id;
  double length;
  if (!get_args(env, info, 2, argv) || !arg_u32(env, argv[0], &id) || !arg_size(env, argv[1], &length)) return NULL;
  Mapping** link = find_mapping(env, id);
  if (!link) return NULL;
  Mapping* m = *link;
  if ((size_t)length > m->length) {
    napi_throw_range_error(env, NULL, "view: longer than the mapping");
    return NULL;
  }
  napi_ref* views = realloc(m->views, (m->view_count + 1) * sizeof *views);
  if (!views) {
    napi_throw_error(env, "ENOMEM", "view: out of memory");
    return NULL;
  }
  m->views = views;
  napi_value result;
  NODE_API_CALL(env, napi_create_external_arraybuffer(env, m->addr, (size_t)length, NULL, NULL, &result));
  napi_ref ref;
  if (napi_create_reference(env, result, 0, &ref) != napi_ok) {
    throw_last_error(env);
    napi_detach_arraybuffer(env, result); /* no one else has it; unmap could not reach it */
    return NULL;
  }
  views[m->view_count++] = ref;
  return result;
}

/* detach_views detaches every view of the mapping still alive; throws (returns 0) when one cannot be. */
static int detach_views(napi_env env, Mapping* m) {
  for (size_t i = 0; i < m->view_count; i++) {
    napi_value ab = NULL;
    NODE_API_CALL_BASE(env, napi_get_reference_value(env, m->views[i], &ab), 0);
    if (ab == NULL) continue; /* collected */
    bool detached = false;
    NODE_API_CALL_BASE(env, napi_is_detached_arraybuffer(env, ab, &detached), 0);
    if (!detached) NODE_API_CALL_BASE(env, napi_detach_arraybuffer(env, ab), 0);
  }
  return 1;
}

/*
 * unmap(id): detaches every view of the mapping that is still alive (its typed arrays then read as empty, never as
 * unmapped memory), then unmaps: 0 or -errno. A view that cannot be detached throws, and the memory stays mapped:
 * nothing is unmapped under a view that can still reach it. After a failure the mapping stays this thread's, for
 * another unmap or the thread's end.
 */
static napi_value unmap_file(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  uint32_t id;
  if (!get_args(env, info, 1, argv) || !arg_u32(env, argv[0], &id)) return NULL;
  Mapping** link = find_mapping(env, id);
  if (!link) return NULL;
  Mapping* m = *link;
  if (!detach_views(env, m)) return NULL;
  if (munmap(m->addr, m->length) != 0) return os_result(env, errno);
  *link = m->next;
  for (size_t i = 0; i < m->view_count; i++) napi_delete_reference(env, m->views[i]); /* failing leaks a reference, no more */
  free(m->views);
  free(m);
  return os_result(env, 0);
}

/*
 * mapped_range reads the arguments (id, offset, length) of a call on a range of a mapping: the range's address and
 * length, from the page holding offset to its end, cut at the mapping's end (empty when nothing is left). Returns 0
 * having thrown.
 */
static int mapped_range(napi_env env, napi_callback_info info, char** addr, size_t* length) {
  napi_value argv[3];
  uint32_t id;
  double offset, count;
  if (!get_args(env, info, 3, argv) || !arg_u32(env, argv[0], &id) || !arg_size(env, argv[1], &offset) ||
      !arg_size(env, argv[2], &count)) return 0;
  Mapping** link = find_mapping(env, id);
  if (!link) return 0;
  Mapping* m = *link;
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t start = (size_t)offset / page * page;
  size_t end = (size_t)(offset + count);
  if (end > m->length) end = m->length;
  *addr = (char*)m->addr + start;
  *length = end > start ? end - start : 0;
  return 1;
}

/* sync(id, offset, length): msync(MS_SYNC) of that range; 0 or -errno. */
static napi_value sync_file(napi_env env, napi_callback_info info) {
  char* addr;
  size_t length;
  if (!mapped_range(env, info, &addr, &length)) return NULL;
  if (length == 0) return os_result(env, 0);
  return os_result(env, msync(addr, length, MS_SYNC) == 0 ? 0 : errno);
}

/*
 * prefault(id, offset, length): makes the range's pages present and writable in this mapping in one call
 * (MADV_POPULATE_WRITE, Linux 5.14 and later), where the first write to each page would otherwise fault on its own.
 * Advice only: 0 or -errno, and a kernel without it (EINVAL) changes nothing. The range must have real blocks
 * (reserve or grow first): the pages become dirty, as the writes that follow would make them, and hold what they held.
 */
static napi_value prefault(napi_env env, napi_callback_info info) {
  char* addr;
  size_t length;
  if (!mapped_range(env, info, &addr, &length)) return NULL;
  if (length == 0) return os_result(env, 0);
#if defined(__linux__) && defined(MADV_POPULATE_WRITE)
  return os_result(env, madvise(addr, length, MADV_POPULATE_WRITE) == 0 ? 0 : errno);
#else
  return os_result(env, EINVAL);
#endif
}

/* ---- threads ---- */

static napi_value thread_token(napi_env env, napi_callback_info info) {
  (void)info;
  ThreadState* ts = thread_state(env);
  return ts ? make_u32(env, ts->token) : NULL;
}

static napi_value token_alive(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  uint32_t token;
  if (!get_args(env, info, 1, argv) || !arg_u32(env, argv[0], &token)) return NULL;
  pthread_mutex_lock(&registry_mutex);
  int alive = 0;
  for (LiveToken* t = live_tokens; t; t = t->next) if (t->token == token) { alive = 1; break; }
  pthread_mutex_unlock(&registry_mutex);
  return make_bool(env, alive);
}

static int32_t* word_at(napi_env env, napi_value buffer, uint32_t offset) {
  void* data = NULL;
  size_t length = 0;
  if (napi_get_buffer_info(env, buffer, &data, &length) != napi_ok || offset % 4 != 0 || (size_t)offset + 4 > length) {
    napi_throw_range_error(env, NULL, "word offset outside the buffer or unaligned");
    return NULL;
  }
  return (int32_t*)((char*)data + offset);
}

/* wait(buffer, offset, expected, timeoutMs): sleeps while the word still equals expected, at most timeoutMs. Every
   way it ends (woken, timed out, interrupted, the word already changed) is the same to the caller, which reads the
   word again: the futex's result is not needed. */
static napi_value wait_word(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  uint32_t offset, timeout_ms;
  int32_t expected;
  if (!get_args(env, info, 4, argv) || !arg_u32(env, argv[1], &offset) || !arg_i32(env, argv[2], &expected) ||
      !arg_u32(env, argv[3], &timeout_ms)) return NULL;
  int32_t* word = word_at(env, argv[0], offset);
  if (!word) return NULL;
  struct timespec ts = { timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L };
#ifdef __linux__
  /* Not FUTEX_PRIVATE_FLAG: each thread has its own mapping of the file, so the futex is keyed by the file page. */
  syscall(SYS_futex, word, FUTEX_WAIT, expected, &ts, NULL, 0);
#else
  if (__atomic_load_n(word, __ATOMIC_SEQ_CST) == expected) { struct timespec nap = { 0, 100000 }; nanosleep(&nap, NULL); }
  (void)ts;
#endif
  return NULL;
}

/* wake(buffer, offset): wakes every thread waiting on the word. It cannot fail on a word that word_at accepted. */
static napi_value wake_word(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  uint32_t offset;
  if (!get_args(env, info, 2, argv) || !arg_u32(env, argv[1], &offset)) return NULL;
  int32_t* word = word_at(env, argv[0], offset);
  if (!word) return NULL;
#ifdef __linux__
  syscall(SYS_futex, word, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
#endif
  return NULL;
}

/* ---- the file's size ---- */

/* allocate(fd, offset, length): gives the range real blocks; 0 or -errno. */
static napi_value allocate(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd;
  double offset, length;
  if (!get_args(env, info, 3, argv) || !arg_i32(env, argv[0], &fd) || !arg_size(env, argv[1], &offset) ||
      !arg_size(env, argv[2], &length)) return NULL;
  return os_result(env, posix_fallocate(fd, (off_t)offset, (off_t)length)); /* returns the errno itself */
}

/*
 * punch(fd, offset, length): deallocates the range's blocks, keeping the file's length (it reads as zeros from
 * then on); 0 or -errno. -EOPNOTSUPP where the file system (or the OS: not Linux) cannot punch holes.
 */
static napi_value punch(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd;
  double offset, length;
  if (!get_args(env, info, 3, argv) || !arg_i32(env, argv[0], &fd) || !arg_size(env, argv[1], &offset) ||
      !arg_size(env, argv[2], &length)) return NULL;
#if defined(__linux__) && defined(FALLOC_FL_PUNCH_HOLE)
  return os_result(env, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length) == 0 ? 0 : errno);
#else
  (void)fd; (void)offset; (void)length;
  return os_result(env, EOPNOTSUPP);
#endif
}

/* ---- the open mark ---- */

/* statx with stx_mnt_id: glibc 2.32 or kernel headers 5.8 and later. Without it, no mount id: no file is resumed. */
#if defined(__linux__) && defined(STATX_MNT_ID)
#define HAVE_STATX_MNT_ID 1
#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U /* Linux 6.8 */
#endif
#endif

/*
 * mount_id(fd): the unique id of the mount the file is open through (statx STATX_MNT_ID_UNIQUE, Linux 6.8 and
 * later: never reused within a boot, where the older STATX_MNT_ID is reused after an unmount), as a BigInt; 0n
 * where the OS gives none.
 */
static napi_value mount_id(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, argv) || !arg_i32(env, argv[0], &fd)) return NULL;
  uint64_t id = 0;
#ifdef HAVE_STATX_MNT_ID
  struct statx stx;
  if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID_UNIQUE, &stx) == 0 && (stx.stx_mask & STATX_MNT_ID_UNIQUE) != 0) {
    id = stx.stx_mnt_id;
  }
#else
  (void)fd;
#endif
  napi_value result;
  NODE_API_CALL(env, napi_create_bigint_uint64(env, id, &result));
  return result;
}

/*
 * coarse_clock(): milliseconds since the epoch (rounded down) of CLOCK_REALTIME_COARSE, the clock the kernel
 * stamps a file's ctime from (a later write is stamped no earlier than a reading of it taken before); 0 if the
 * clock cannot be read.
 */
static napi_value coarse_clock(napi_env env, napi_callback_info info) {
  (void)info;
  struct timespec now;
#ifdef CLOCK_REALTIME_COARSE
  if (clock_gettime(CLOCK_REALTIME_COARSE, &now) != 0) return make_i32(env, 0);
#else
  if (clock_gettime(CLOCK_REALTIME, &now) != 0) return make_i32(env, 0);
#endif
  napi_value result;
  NODE_API_CALL(env, napi_create_double(env, (double)now.tv_sec * 1000 + (double)(now.tv_nsec / 1000000), &result));
  return result;
}

/* start_thread gives this thread its state and a live token, and the hook that gives both back: 0 having thrown. */
static int start_thread(napi_env env) {
  ThreadState* ts = calloc(1, sizeof *ts);
  LiveToken* live = calloc(1, sizeof *live);
  if (!ts || !live) {
    free(ts);
    free(live);
    napi_throw_error(env, "ENOMEM", "slabkv_native: out of memory");
    return 0;
  }
  pthread_mutex_lock(&registry_mutex);
  ts->token = next_token;
  next_token = next_token == TOKEN_LIMIT ? 1 : next_token + 1;
  pthread_mutex_unlock(&registry_mutex);
  live->token = ts->token;
  if (napi_set_instance_data(env, ts, NULL, NULL) != napi_ok) {
    throw_last_error(env);
    free(ts);
    free(live);
    return 0;
  }
  if (napi_add_env_cleanup_hook(env, thread_cleanup, ts) != napi_ok) {
    throw_last_error(env);
    napi_set_instance_data(env, NULL, NULL, NULL);
    free(ts);
    free(live);
    return 0;
  }
  pthread_mutex_lock(&registry_mutex); /* alive from here on; the cleanup hook ends it */
  live->next = live_tokens;
  live_tokens = live;
  pthread_mutex_unlock(&registry_mutex);
  return 1;
}

NAPI_MODULE_INIT() {
  if (!start_thread(env)) return NULL;
  napi_property_descriptor props[] = {
    { "acquire", NULL, acquire, NULL, NULL, NULL, napi_default, NULL },
    { "descriptor", NULL, descriptor, NULL, NULL, NULL, napi_default, NULL },
    { "references", NULL, references, NULL, NULL, NULL, napi_default, NULL },
    { "setupEnter", NULL, setup_enter, NULL, NULL, NULL, napi_default, NULL },
    { "setupLeave", NULL, setup_leave, NULL, NULL, NULL, napi_default, NULL },
    { "map", NULL, map_file, NULL, NULL, NULL, napi_default, NULL },
    { "view", NULL, view, NULL, NULL, NULL, napi_default, NULL },
    { "unmap", NULL, unmap_file, NULL, NULL, NULL, napi_default, NULL },
    { "sync", NULL, sync_file, NULL, NULL, NULL, napi_default, NULL },
    { "prefault", NULL, prefault, NULL, NULL, NULL, napi_default, NULL },
    { "threadToken", NULL, thread_token, NULL, NULL, NULL, napi_default, NULL },
    { "tokenAlive", NULL, token_alive, NULL, NULL, NULL, napi_default, NULL },
    { "wait", NULL, wait_word, NULL, NULL, NULL, napi_default, NULL },
    { "wake", NULL, wake_word, NULL, NULL, NULL, napi_default, NULL },
    { "allocate", NULL, allocate, NULL, NULL, NULL, napi_default, NULL },
    { "punch", NULL, punch, NULL, NULL, NULL, napi_default, NULL },
    { "mountId", NULL, mount_id, NULL, NULL, NULL, napi_default, NULL },
    { "coarseClock", NULL, coarse_clock, NULL, NULL, NULL, napi_default, NULL },
  };
  NODE_API_CALL(env, napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}
