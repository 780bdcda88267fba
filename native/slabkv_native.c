/*
 * slabkv_native: the few things Node cannot do from JavaScript, for every thread of a process.
 *
 * 1. A per-process file lock. flock(2) locks belong to an open file description, so the process keeps ONE
 *    descriptor per store file here, in memory shared by all threads, with a reference count. Every thread that
 *    opens the file takes a reference; the lock is released when the last reference goes. References held by a
 *    worker thread that exits without closing are dropped by an environment cleanup hook, so a dead thread never
 *    leaves the file locked. (fs-ext gives flock too, but is a NAN addon whose init crashes the process when loaded
 *    in a second worker; this file is Node-API and context-aware.)
 * 2. Thread liveness: every thread that loads this addon gets a unique token; the token is dead once the thread's
 *    environment is torn down. The store's lock word holds the owner's token, so a waiter can tell a dead owner.
 * 3. futex wait and wake on a word of a shared mapping: Atomics.wait works only on a SharedArrayBuffer.
 * 4. posix_fallocate: grow the file with real blocks, so a full disk is an error and never a SIGBUS.
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

typedef struct FileLock {
  struct FileLock* next;
  dev_t dev;
  ino_t ino;
  int fd;
  uint32_t id;
  uint32_t refs;
  uint32_t prepared; /* the file has been checked and marked open by a thread of this process */
  pthread_mutex_t setup; /* serialises open and last close of one store among the process's threads */
} FileLock;

typedef struct ThreadRef { /* one per (thread, lock) pair: what the cleanup hook must give back */
  struct ThreadRef* next;
  uint32_t lock_id;
  uint32_t count;
} ThreadRef;

typedef struct ThreadState {
  uint32_t token;
  ThreadRef* refs;
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
static uint32_t next_token = 1;

static FileLock* find_lock_by_id(uint32_t id) {
  for (FileLock* l = locks; l; l = l->next) if (l->id == id) return l;
  return NULL;
}

/* Drops one reference; the caller holds registry_mutex. */
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

/* ---- argument helpers ---- */

static napi_value make_u32(napi_env env, uint32_t v) { napi_value r; napi_create_uint32(env, v, &r); return r; }
static napi_value make_i32(napi_env env, int32_t v) { napi_value r; napi_create_int32(env, v, &r); return r; }

static ThreadState* thread_state(napi_env env) {
  void* data = NULL;
  napi_get_instance_data(env, &data);
  return data;
}

/* acquire(path): [lockId, first] on success, [0, errno] when locked (EWOULDBLOCK) or the open failed. */
static napi_value acquire(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[4096];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok || len >= sizeof path - 1) {
    napi_throw_type_error(env, NULL, "acquire(path): path must be a string shorter than 4095 bytes");
    return NULL;
  }
  napi_value result;
  napi_create_array_with_length(env, 2, &result);
  int fd = open(path, O_RDWR | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    int err = errno;
    if (fd >= 0) close(fd);
    napi_set_element(env, result, 0, make_u32(env, 0));
    napi_set_element(env, result, 1, make_i32(env, err));
    return result;
  }
  pthread_mutex_lock(&registry_mutex);
  FileLock* lock = locks;
  while (lock && !(lock->dev == st.st_dev && lock->ino == st.st_ino)) lock = lock->next;
  int first = 0;
  if (lock) {
    close(fd);
    lock->refs++;
  } else if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    pthread_mutex_unlock(&registry_mutex);
    close(fd);
    napi_set_element(env, result, 0, make_u32(env, 0));
    napi_set_element(env, result, 1, make_i32(env, err));
    return result;
  } else {
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
  }
  thread_add_ref(thread_state(env), lock->id);
  uint32_t id = lock->id;
  pthread_mutex_unlock(&registry_mutex);
  napi_set_element(env, result, 0, make_u32(env, id));
  napi_set_element(env, result, 1, make_i32(env, first));
  return result;
}

static uint32_t arg_u32(napi_env env, napi_callback_info info, size_t index) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t v = 0;
  if (index < argc) napi_get_value_uint32(env, argv[index], &v);
  return v;
}

/* release(lockId): drops this thread's reference; returns the references left in the process. */
static napi_value release(napi_env env, napi_callback_info info) {
  uint32_t id = arg_u32(env, info, 0);
  pthread_mutex_lock(&registry_mutex);
  uint32_t left = 0;
  FileLock* lock = find_lock_by_id(id);
  if (lock && thread_drop_ref(thread_state(env), id)) {
    left = lock->refs - 1;
    unref_lock(lock);
  }
  pthread_mutex_unlock(&registry_mutex);
  return make_u32(env, left);
}

/* references(lockId): how many references the process holds (0 when unknown). */
static napi_value references(napi_env env, napi_callback_info info) {
  uint32_t id = arg_u32(env, info, 0);
  pthread_mutex_lock(&registry_mutex);
  FileLock* lock = find_lock_by_id(id);
  uint32_t refs = lock ? lock->refs : 0;
  pthread_mutex_unlock(&registry_mutex);
  return make_u32(env, refs);
}

/* setupEnter / setupLeave(lockId): the process-wide mutex of one store, held while a thread opens or closes it.
   The lock is found under registry_mutex but waited on outside it; it cannot be freed meanwhile because the
   caller holds a reference. */
static pthread_mutex_t* setup_mutex(uint32_t id) {
  pthread_mutex_lock(&registry_mutex);
  FileLock* lock = find_lock_by_id(id);
  pthread_mutex_unlock(&registry_mutex);
  return lock ? &lock->setup : NULL;
}

/* setupEnter(lockId): locks the store's setup mutex; returns whether the file is already prepared. */
static napi_value setup_enter(napi_env env, napi_callback_info info) {
  uint32_t id = arg_u32(env, info, 0);
  pthread_mutex_t* m = setup_mutex(id);
  int prepared = 0;
  if (m) {
    pthread_mutex_lock(m);
    thread_state(env)->setup_held = m;
    pthread_mutex_lock(&registry_mutex);
    FileLock* lock = find_lock_by_id(id);
    prepared = lock ? (int)lock->prepared : 0;
    pthread_mutex_unlock(&registry_mutex);
  }
  napi_value r;
  napi_get_boolean(env, prepared, &r);
  return r;
}

/* setupLeave(lockId, prepared): records whether the file is prepared, then unlocks the setup mutex. */
static napi_value setup_leave(napi_env env, napi_callback_info info) {
  uint32_t id = arg_u32(env, info, 0);
  uint32_t prepared = arg_u32(env, info, 1);
  pthread_mutex_lock(&registry_mutex);
  FileLock* lock = find_lock_by_id(id);
  if (lock) lock->prepared = prepared;
  pthread_mutex_unlock(&registry_mutex);
  pthread_mutex_t* m = setup_mutex(id);
  if (m) pthread_mutex_unlock(m);
  thread_state(env)->setup_held = NULL;
  return NULL;
}

static napi_value thread_token(napi_env env, napi_callback_info info) {
  (void)info;
  return make_u32(env, thread_state(env)->token);
}

static napi_value token_alive(napi_env env, napi_callback_info info) {
  uint32_t token = arg_u32(env, info, 0);
  pthread_mutex_lock(&registry_mutex);
  int alive = 0;
  for (LiveToken* t = live_tokens; t; t = t->next) if (t->token == token) { alive = 1; break; }
  pthread_mutex_unlock(&registry_mutex);
  napi_value r;
  napi_get_boolean(env, alive, &r);
  return r;
}

static int32_t* word_at(napi_env env, napi_value buffer, uint32_t offset) {
  void* data = NULL;
  size_t length = 0;
  if (napi_get_buffer_info(env, buffer, &data, &length) != napi_ok || offset % 4 != 0 || offset + 4 > length) {
    napi_throw_range_error(env, NULL, "word offset outside the buffer or unaligned");
    return NULL;
  }
  return (int32_t*)((char*)data + offset);
}

/* wait(buffer, offset, expected, timeoutMs): sleeps while the word still equals expected, at most timeoutMs. */
static napi_value wait_word(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t offset = 0, timeout_ms = 0;
  int32_t expected = 0;
  napi_get_value_uint32(env, argv[1], &offset);
  napi_get_value_int32(env, argv[2], &expected);
  napi_get_value_uint32(env, argv[3], &timeout_ms);
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
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t offset = 0;
  napi_get_value_uint32(env, argv[1], &offset);
  int32_t* word = word_at(env, argv[0], offset);
  if (!word) return NULL;
#ifdef __linux__
  syscall(SYS_futex, word, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
#endif
  return NULL;
}

/* allocate(fd, offset, length): 0 or an errno. */
static napi_value allocate(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1;
  double offset = 0, length = 0;
  napi_get_value_int32(env, argv[0], &fd);
  napi_get_value_double(env, argv[1], &offset);
  napi_get_value_double(env, argv[2], &length);
  int err = posix_fallocate(fd, (off_t)offset, (off_t)length);
  return make_i32(env, err);
}

NAPI_MODULE_INIT() {
  ThreadState* ts = calloc(1, sizeof *ts);
  LiveToken* live = calloc(1, sizeof *live);
  if (!ts || !live) abort();
  pthread_mutex_lock(&registry_mutex);
  ts->token = next_token++;
  live->token = ts->token;
  live->next = live_tokens;
  live_tokens = live;
  pthread_mutex_unlock(&registry_mutex);
  napi_set_instance_data(env, ts, NULL, NULL);
  napi_add_env_cleanup_hook(env, thread_cleanup, ts);

  napi_property_descriptor props[] = {
    { "acquire", NULL, acquire, NULL, NULL, NULL, napi_default, NULL },
    { "release", NULL, release, NULL, NULL, NULL, napi_default, NULL },
    { "references", NULL, references, NULL, NULL, NULL, napi_default, NULL },
    { "setupEnter", NULL, setup_enter, NULL, NULL, NULL, napi_default, NULL },
    { "setupLeave", NULL, setup_leave, NULL, NULL, NULL, napi_default, NULL },
    { "threadToken", NULL, thread_token, NULL, NULL, NULL, napi_default, NULL },
    { "tokenAlive", NULL, token_alive, NULL, NULL, NULL, napi_default, NULL },
    { "wait", NULL, wait_word, NULL, NULL, NULL, napi_default, NULL },
    { "wake", NULL, wake_word, NULL, NULL, NULL, napi_default, NULL },
    { "allocate", NULL, allocate, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
