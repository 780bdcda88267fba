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
 * Arguments are checked: a call with a missing or mistyped argument throws a TypeError rather than acting on a
 * default (fd -1, offset 0).
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

static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;
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

static void thread_add_ref(ThreadState* ts, uint32_t lock_id) {
  for (ThreadRef* r = ts->refs; r; r = r->next) if (r->lock_id == lock_id) { r->count++; return; }
  ThreadRef* r = calloc(1, sizeof *r);
  if (!r) abort();
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

static napi_value make_u32(napi_env env, uint32_t v) { napi_value r; napi_create_uint32(env, v, &r); return r; }
static napi_value make_i32(napi_env env, int32_t v) { napi_value r; napi_create_int32(env, v, &r); return r; }
static napi_value make_bool(napi_env env, int v) { napi_value r; napi_get_boolean(env, v, &r); return r; }

static ThreadState* thread_state(napi_env env) {
  void* data = NULL;
  napi_get_instance_data(env, &data);
  return data;
}

/* get_args fetches exactly n arguments; throws and returns 0 when fewer were passed. */
static int get_args(napi_env env, napi_callback_info info, size_t n, napi_value* argv) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < n) {
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

static napi_value pair(napi_env env, napi_value a, napi_value b, napi_value c) {
  napi_value result;
  napi_create_array_with_length(env, 3, &result);
  napi_set_element(env, result, 0, a);
  napi_set_element(env, result, 1, b);
  napi_set_element(env, result, 2, c);
  return result;
}

static napi_value failed(napi_env env, int err) {
  return pair(env, make_u32(env, 0), make_i32(env, err), make_i32(env, -1));
}

/* ---- the process's file lock ---- */

/*
 * acquire(path): [lockId, first, fd] on success, where fd is the process's descriptor of the file (read-write, for
 * mapping and growing it) and first is 1 when this call took the OS lock; [0, errno, -1] when the file does not
 * exist (ENOENT), is locked by another process (EWOULDBLOCK), or cannot be opened. Never creates the file.
 * After flock it checks that the path still names the file it locked: a store created (renamed into place) in the
 * meantime is another file, and is opened again.
 */
static napi_value acquire(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[0], NULL, 0, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "acquire(path): path must be a string");
    return NULL;
  }
  char* path = malloc(len + 1);
  if (!path) return failed(env, ENOMEM);
  napi_get_value_string_utf8(env, argv[0], path, len + 1, &len);
  if (strlen(path) != len) { free(path); return failed(env, EINVAL); } /* a NUL inside the path */

  int fd = -1, err = 0, first = 0;
  struct stat st;
  FileLock* lock = NULL;
  for (int attempt = 0; attempt < ACQUIRE_ATTEMPTS && !lock; attempt++) {
    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) { err = errno; break; }
    if (!S_ISREG(st.st_mode)) { err = S_ISDIR(st.st_mode) ? EISDIR : EINVAL; break; }
    pthread_mutex_lock(&registry_mutex);
    lock = locks;
    while (lock && !(lock->dev == st.st_dev && lock->ino == st.st_ino)) lock = lock->next;
    if (lock) {
      lock->refs++;
      pthread_mutex_unlock(&registry_mutex);
      close(fd);
      fd = lock->fd;
      break;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      err = errno;
      pthread_mutex_unlock(&registry_mutex);
      break;
    }
    struct stat now;
    if (stat(path, &now) != 0 || now.st_dev != st.st_dev || now.st_ino != st.st_ino) {
      pthread_mutex_unlock(&registry_mutex);
      flock(fd, LOCK_UN);
      close(fd);
      fd = -1;
      err = ENOENT;
      continue;
    }
    lock = calloc(1, sizeof *lock);
    if (!lock) abort();
    lock->dev = st.st_dev;
    lock->ino = st.st_ino;
    lock->fd = fd;
    lock->id = next_lock_id++;
    lock->refs = 1;
    pthread_mutex_init(&lock->setup, NULL);
    lock->next = locks;
    locks = lock;
    first = 1;
    pthread_mutex_unlock(&registry_mutex);
  }
  free(path);
  if (!lock) {
    if (fd >= 0) close(fd);
    return failed(env, err ? err : EAGAIN);
  }
  pthread_mutex_lock(&registry_mutex);
  thread_add_ref(thread_state(env), lock->id);
  uint32_t id = lock->id;
  int lock_fd = lock->fd;
  pthread_mutex_unlock(&registry_mutex);
  return pair(env, make_u32(env, id), make_i32(env, first), make_i32(env, lock_fd));
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
  pthread_mutex_lock(&registry_mutex);
  FileLock* lock = find_lock_by_id(id);
  pthread_mutex_unlock(&registry_mutex);
  if (!lock || ts->setup_held) {
    napi_throw_error(env, NULL, "setupEnter: unknown lock, or this thread already holds a setup mutex");
    return NULL;
  }
  pthread_mutex_lock(&lock->setup);
  ts->setup_held = &lock->setup;
  pthread_mutex_lock(&registry_mutex);
  int prepared = (int)lock->prepared;
  pthread_mutex_unlock(&registry_mutex);
  return make_bool(env, prepared);
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
  return make_u32(env, 0);
}

/* ---- the mapping ---- */

/* map(fd, length): the id of a new shared read-write mapping of the file's first length bytes, or -errno. */
static napi_value map_file(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  double length;
  if (!get_args(env, info, 2, argv) || !arg_i32(env, argv[0], &fd) || !arg_size(env, argv[1], &length)) return NULL;
  void* addr = mmap(NULL, (size_t)length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (addr == MAP_FAILED) return make_i32(env, -errno);
#ifdef MADV_RANDOM
  madvise(addr, (size_t)length, MADV_RANDOM); /* lookups jump; read-ahead would fetch pages no one asked for */
#endif
  Mapping* m = calloc(1, sizeof *m);
  if (!m) abort();
  m->addr = addr;
  m->length = (size_t)length;
  ThreadState* ts = thread_state(env);
  pthread_mutex_lock(&registry_mutex);
  m->id = next_mapping_id++;
  pthread_mutex_unlock(&registry_mutex);
  m->next = ts->mappings;
  ts->mappings = m;
  return make_i32(env, (int32_t)m->id);
}

static Mapping* find_mapping(napi_env env, uint32_t id) {
  for (Mapping* m = thread_state(env)->mappings; m; m = m->next) if (m->id == id) return m;
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
  Mapping* m = find_mapping(env, id);
  if (!m) return NULL;
  if ((size_t)length > m->length) {
    napi_throw_range_error(env, NULL, "view: longer than the mapping");
    return NULL;
  }
  napi_value result;
  napi_ref ref;
  if (napi_create_external_arraybuffer(env, m->addr, (size_t)length, NULL, NULL, &result) != napi_ok ||
      napi_create_reference(env, result, 0, &ref) != napi_ok) {
    napi_throw_error(env, NULL, "view: cannot create an ArrayBuffer over the mapping");
    return NULL;
  }
  napi_ref* views = realloc(m->views, (m->view_count + 1) * sizeof *views);
  if (!views) abort();
  views[m->view_count++] = ref;
  m->views = views;
  return result;
}

/* unmap(id): detaches every view of the mapping that is still alive (its typed arrays then read as empty, never
   as unmapped memory), then unmaps. 0 or an errno. */
static napi_value unmap_file(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  uint32_t id;
  if (!get_args(env, info, 1, argv) || !arg_u32(env, argv[0], &id)) return NULL;
  ThreadState* ts = thread_state(env);
  Mapping** p = &ts->mappings;
  while (*p && (*p)->id != id) p = &(*p)->next;
  if (!*p) { find_mapping(env, id); return NULL; } /* throws */
  Mapping* m = *p;
  for (size_t i = 0; i < m->view_count; i++) {
    napi_value ab = NULL;
    bool detached = true;
    if (napi_get_reference_value(env, m->views[i], &ab) == napi_ok && ab != NULL &&
        napi_is_detached_arraybuffer(env, ab, &detached) == napi_ok && !detached) {
      napi_detach_arraybuffer(env, ab);
    }
    napi_delete_reference(env, m->views[i]);
  }
  *p = m->next;
  int result = munmap(m->addr, m->length) == 0 ? 0 : errno;
  free(m->views);
  free(m);
  return make_i32(env, result);
}

/* sync(id, offset, length): msync(MS_SYNC) of that range; 0 or an errno. */
static napi_value sync_file(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  uint32_t id;
  double offset, length;
  if (!get_args(env, info, 3, argv) || !arg_u32(env, argv[0], &id) || !arg_size(env, argv[1], &offset) ||
      !arg_size(env, argv[2], &length)) return NULL;
  Mapping* m = find_mapping(env, id);
  if (!m) return NULL;
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t start = (size_t)offset / page * page;
  size_t end = (size_t)(offset + length);
  if (end > m->length) end = m->length;
  if (end <= start) return make_i32(env, 0);
  return make_i32(env, msync((char*)m->addr + start, end - start, MS_SYNC) == 0 ? 0 : errno);
}

/* ---- threads ---- */

static napi_value thread_token(napi_env env, napi_callback_info info) {
  (void)info;
  return make_u32(env, thread_state(env)->token);
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

/* wait(buffer, offset, expected, timeoutMs): sleeps while the word still equals expected, at most timeoutMs. */
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

/* allocate(fd, offset, length): gives the range real blocks; 0 or an errno. */
static napi_value allocate(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd;
  double offset, length;
  if (!get_args(env, info, 3, argv) || !arg_i32(env, argv[0], &fd) || !arg_size(env, argv[1], &offset) ||
      !arg_size(env, argv[2], &length)) return NULL;
  return make_i32(env, posix_fallocate(fd, (off_t)offset, (off_t)length));
}

/*
 * punch(fd, offset, length): deallocates the range's blocks, keeping the file's length (it reads as zeros from
 * then on); 0 or an errno. EOPNOTSUPP where the file system (or the OS: not Linux) cannot punch holes.
 */
static napi_value punch(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd;
  double offset, length;
  if (!get_args(env, info, 3, argv) || !arg_i32(env, argv[0], &fd) || !arg_size(env, argv[1], &offset) ||
      !arg_size(env, argv[2], &length)) return NULL;
#if defined(__linux__) && defined(FALLOC_FL_PUNCH_HOLE)
  return make_i32(env, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length) == 0 ? 0 : errno);
#else
  (void)fd; (void)offset; (void)length;
  return make_i32(env, EOPNOTSUPP);
#endif
}

/* ---- the open mark ---- */

#if defined(__linux__) && defined(STATX_BASIC_STATS)
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
#if defined(__linux__) && defined(STATX_BASIC_STATS)
  struct statx stx;
  if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID_UNIQUE, &stx) == 0 && (stx.stx_mask & STATX_MNT_ID_UNIQUE) != 0) {
    id = stx.stx_mnt_id;
  }
#else
  (void)fd;
#endif
  napi_value result;
  if (napi_create_bigint_uint64(env, id, &result) != napi_ok) return NULL;
  return result;
}

/*
 * coarse_clock(): milliseconds since the epoch (rounded down) of CLOCK_REALTIME_COARSE, the clock the kernel
 * stamps a file's ctime from (a later write is stamped no earlier than a reading of it taken before).
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
  if (napi_create_double(env, (double)now.tv_sec * 1000 + (double)(now.tv_nsec / 1000000), &result) != napi_ok) return NULL;
  return result;
}

NAPI_MODULE_INIT() {
  ThreadState* ts = calloc(1, sizeof *ts);
  LiveToken* live = calloc(1, sizeof *live);
  if (!ts || !live) abort();
  pthread_mutex_lock(&registry_mutex);
  ts->token = next_token;
  next_token = next_token == TOKEN_LIMIT ? 1 : next_token + 1;
  live->token = ts->token;
  live->next = live_tokens;
  live_tokens = live;
  pthread_mutex_unlock(&registry_mutex);
  napi_set_instance_data(env, ts, NULL, NULL);
  napi_add_env_cleanup_hook(env, thread_cleanup, ts);

  napi_property_descriptor props[] = {
    { "acquire", NULL, acquire, NULL, NULL, NULL, napi_default, NULL },
    { "references", NULL, references, NULL, NULL, NULL, napi_default, NULL },
    { "setupEnter", NULL, setup_enter, NULL, NULL, NULL, napi_default, NULL },
    { "setupLeave", NULL, setup_leave, NULL, NULL, NULL, napi_default, NULL },
    { "map", NULL, map_file, NULL, NULL, NULL, napi_default, NULL },
    { "view", NULL, view, NULL, NULL, NULL, napi_default, NULL },
    { "unmap", NULL, unmap_file, NULL, NULL, NULL, napi_default, NULL },
    { "sync", NULL, sync_file, NULL, NULL, NULL, napi_default, NULL },
    { "threadToken", NULL, thread_token, NULL, NULL, NULL, napi_default, NULL },
    { "tokenAlive", NULL, token_alive, NULL, NULL, NULL, napi_default, NULL },
    { "wait", NULL, wait_word, NULL, NULL, NULL, napi_default, NULL },
    { "wake", NULL, wake_word, NULL, NULL, NULL, napi_default, NULL },
    { "allocate", NULL, allocate, NULL, NULL, NULL, napi_default, NULL },
    { "punch", NULL, punch, NULL, NULL, NULL, napi_default, NULL },
    { "mountId", NULL, mount_id, NULL, NULL, NULL, napi_default, NULL },
    { "coarseClock", NULL, coarse_clock, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
