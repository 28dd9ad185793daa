/*
 * io_uring_native: one io_uring per Ring object, as a Node-API addon over
 * liburing (linked statically). The TypeScript side (src/ring.ts) is the
 * only caller; it validates arguments, allocates operation ids and keeps
 * every Buffer the kernel may touch reachable until that operation's final
 * CQE.
 *
 * What it does:
 *   - create(entries, cqeView: Int32Array, onCqes) -> ring
 *       io_uring_queue_init + an eventfd registered with the ring and
 *       watched by libuv (uv_poll). When the eventfd fires, CQEs are copied
 *       as [id, res, flags] triples into cqeView and onCqes(count) is
 *       called (in batches of cqeView.length / 3). Provided buffers given
 *       back by the GC (see alias) are reported as triples [-1, bgid, bid].
 *   - prep*(ring, id, ...) fill one SQE each with user_data = id. Nothing
 *       is submitted: flush(ring) calls io_uring_submit once for every
 *       SQE prepared since the last flush (the TS side flushes once per
 *       event-loop turn). iovec / msghdr arrays live in a per-ring arena
 *       that is reset after a complete submit: the kernel copies them at
 *       submission (IORING_FEAT_SUBMIT_STABLE), the *data* they point to
 *       stays pinned by the caller until the final CQE.
 *   - buffer rings (IORING_REGISTER_PBUF_RING) whose entries point into
 *       Buffers the JS side owns; alias(...) wraps a received slice of such
 *       a Buffer as an external Buffer whose finalizer reports the buffer
 *       id back (a [-1, bgid, bid] triple), so the JS pool can re-provide it
 *       when the last view of the received bytes is gone. The alias holds a
 *       strong reference to the backing JS Buffer until it is finalized.
 *   - small socket helpers (socket/bind/listen, addresses, TCP_NODELAY).
 *
 * What it does not do: no policy (which buffer to provide, when to
 * re-arm a multishot request, when to flush) and no JS callbacks per
 * operation; it never frees or copies payload memory.
 *
 * Buffer ownership: for every prep* that takes Buffers, the kernel reads or
 * writes their memory until the operation's final CQE (the one without
 * IORING_CQE_F_MORE; for SEND_ZC the notification CQE, IORING_CQE_F_NOTIF).
 * This file keeps no reference to them: the caller must.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>

#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif

#define IOV_ARENA 8192
#define MSG_ARENA 2048
#define MAX_GROUPS 4096

typedef struct {
  struct io_uring_buf_ring *br;
  uint32_t entries;
} group_t;

typedef struct ring_s {
  struct io_uring ring;
  int efd;
  uv_poll_t poll;
  napi_env env;
  napi_ref cb;
  napi_ref cqe_view;
  napi_async_context actx;
  int32_t *cqe_buf;
  uint32_t cqe_cap; /* triples */
  struct iovec iov[IOV_ARENA];
  uint32_t iov_used;
  struct msghdr msg[MSG_ARENA];
  uint32_t msg_used;
  uint32_t pending; /* prepared, not yet submitted */
  int64_t inflight; /* submitted or prepared SQEs whose final CQE has not been seen */
  int refed;
  int open;
  int refs; /* 1 while open + 1 per live alias + 1 while the uv handle is open */
  uint64_t enters, submitted, cqes;
  group_t *groups[MAX_GROUPS];
  /* buffer ids given back by alias finalizers, not yet reported */
  uint32_t *returned;
  uint32_t returned_len, returned_cap;
} ring_t;

typedef struct {
  ring_t *r;
  uint32_t bgid, bid;
  napi_ref backing;
  size_t len;
} alias_t;

static void ring_unref(ring_t *r) {
  if (--r->refs == 0) {
    for (int i = 0; i < MAX_GROUPS; i++) {
      if (r->groups[i]) {
        free(r->groups[i]->br);
        free(r->groups[i]);
      }
    }
    free(r->returned);
    free(r);
  }
}

static napi_value errno_error(napi_env env, int err, const char *what) {
  napi_value msg, error, code;
  char text[256];
  snprintf(text, sizeof text, "%s: %s", what, strerror(err));
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &error);
  napi_create_int32(env, err, &code);
  napi_set_named_property(env, error, "errno", code);
  return error;
}

static napi_value throw_errno(napi_env env, int err, const char *what) {
  napi_throw(env, errno_error(env, err, what));
  return NULL;
}

static napi_value undef(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

static napi_value num(napi_env env, double v) {
  napi_value n;
  napi_create_double(env, v, &n);
  return n;
}

#define ARGS(n)                                                        \
  size_t argc = n;                                                     \
  napi_value argv[n];                                                  \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) \
    return NULL;                                                       \
  if (argc < n) {                                                      \
    napi_throw_type_error(env, NULL, "too few arguments");             \
    return NULL;                                                       \
  }

static int get_i64(napi_env env, napi_value v, int64_t *out) {
  if (napi_get_value_int64(env, v, out) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a number");
    return 0;
  }
  return 1;
}

static int get_ring(napi_env env, napi_value v, ring_t **out) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, NULL, "expected a ring");
    return 0;
  }
  *out = p;
  if (!(*out)->open) {
    napi_throw_error(env, "EBADF", "ring is closed");
    return 0;
  }
  return 1;
}

static int get_bytes(napi_env env, napi_value v, void **data, size_t *len) {
  napi_typedarray_type t;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &t, len, data, &ab, &off) != napi_ok || t != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "expected a Buffer");
    return 0;
  }
  return 1;
}

static int submit_pending(ring_t *r);

/* An SQE; submits what is pending first if the SQ is full. */
static struct io_uring_sqe *get_sqe(napi_env env, ring_t *r) {
  struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
  if (sqe == NULL) {
    int rc = submit_pending(r);
    if (rc < 0) {
      throw_errno(env, -rc, "io_uring_submit");
      return NULL;
    }
    sqe = io_uring_get_sqe(&r->ring);
    if (sqe == NULL) {
      throw_errno(env, EBUSY, "io_uring submission queue full");
      return NULL;
    }
  }
  return sqe;
}

static void update_ref(ring_t *r) {
  int want = r->inflight > 0;
  if (want && !r->refed) {
    uv_ref((uv_handle_t *)&r->poll);
    r->refed = 1;
  } else if (!want && r->refed) {
    uv_unref((uv_handle_t *)&r->poll);
    r->refed = 0;
  }
}

static void prepared(ring_t *r, struct io_uring_sqe *sqe, int64_t id) {
  io_uring_sqe_set_data64(sqe, (uint64_t)(uint32_t)id);
  r->pending++;
  r->inflight++;
  update_ref(r);
}

static int submit_pending(ring_t *r) {
  if (r->pending == 0) return 0;
  int rc;
  do {
    rc = io_uring_submit(&r->ring);
  } while (rc == -EINTR);
  r->enters++;
  if (rc < 0) return rc;
  r->submitted += (uint64_t)rc;
  r->pending = (uint32_t)rc >= r->pending ? 0 : r->pending - (uint32_t)rc;
  if (r->pending == 0) {
    r->iov_used = 0;
    r->msg_used = 0;
  }
  return rc;
}

/* Reads a JS array of Buffers into the iovec arena; NULL (exception set) on error. */
static struct iovec *iov_from(napi_env env, ring_t *r, napi_value arr, uint32_t *count) {
  uint32_t n;
  if (napi_get_array_length(env, arr, &n) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected an array of Buffers");
    return NULL;
  }
  if (n == 0 || n > IOV_MAX || n > IOV_ARENA) {
    napi_throw_range_error(env, NULL, "bad number of buffers");
    return NULL;
  }
  if (r->iov_used + n > IOV_ARENA) {
    int rc = submit_pending(r);
    if (rc < 0) {
      throw_errno(env, -rc, "io_uring_submit");
      return NULL;
    }
    if (r->iov_used + n > IOV_ARENA) {
      throw_errno(env, EBUSY, "iovec arena full");
      return NULL;
    }
  }
  struct iovec *iov = &r->iov[r->iov_used];
  for (uint32_t i = 0; i < n; i++) {
    napi_value b;
    if (napi_get_element(env, arr, i, &b) != napi_ok) return NULL;
    if (!get_bytes(env, b, &iov[i].iov_base, &iov[i].iov_len)) return NULL;
  }
  r->iov_used += n;
  *count = n;
  return iov;
}

static struct msghdr *msg_alloc(napi_env env, ring_t *r) {
  if (r->msg_used >= MSG_ARENA) {
    int rc = submit_pending(r);
    if (rc < 0) {
      throw_errno(env, -rc, "io_uring_submit");
      return NULL;
    }
    if (r->msg_used >= MSG_ARENA) {
      throw_errno(env, EBUSY, "msghdr arena full");
      return NULL;
    }
  }
  struct msghdr *m = &r->msg[r->msg_used++];
  memset(m, 0, sizeof *m);
  return m;
}

/* ---- completions ---- */

static void deliver(ring_t *r, uint32_t count) {
  napi_env env = r->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, recv, arg, result;
  napi_get_reference_value(env, r->cb, &cb);
  napi_get_global(env, &recv); /* napi_make_callback needs an object receiver */
  napi_create_uint32(env, count, &arg);
  if (napi_make_callback(env, r->actx, recv, cb, 1, &arg, &result) != napi_ok) {
    napi_value exc;
    if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
  }
  napi_close_handle_scope(env, scope);
}

static void drain(ring_t *r) {
  for (;;) {
    if (!r->open) return;
    uint32_t n = 0;
    while (n < r->cqe_cap && r->returned_len > 0) {
      uint32_t v = r->returned[--r->returned_len];
      r->cqe_buf[3 * n] = -1;
      r->cqe_buf[3 * n + 1] = (int32_t)(v >> 16);
      r->cqe_buf[3 * n + 2] = (int32_t)(v & 0xffff);
      n++;
    }
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&r->ring, head, cqe) {
      if (n >= r->cqe_cap) break;
      r->cqe_buf[3 * n] = (int32_t)(uint32_t)io_uring_cqe_get_data64(cqe);
      r->cqe_buf[3 * n + 1] = cqe->res;
      r->cqe_buf[3 * n + 2] = (int32_t)cqe->flags;
      if (!(cqe->flags & IORING_CQE_F_MORE)) r->inflight--;
      n++;
      seen++;
    }
    if (seen) io_uring_cq_advance(&r->ring, seen);
    r->cqes += seen;
    if (n == 0) return;
    update_ref(r);
    deliver(r, n);
  }
}

static void on_poll(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  ring_t *r = h->data;
  uint64_t v;
  while (read(r->efd, &v, sizeof v) > 0) {
  }
  drain(r);
}

static void on_uv_close(uv_handle_t *h) {
  ring_t *r = h->data;
  ring_unref(r);
}

static void ring_shutdown(napi_env env, ring_t *r) {
  if (!r->open) return;
  r->open = 0;
  uv_poll_stop(&r->poll);
  uv_close((uv_handle_t *)&r->poll, on_uv_close);
  io_uring_queue_exit(&r->ring);
  close(r->efd);
  napi_delete_reference(env, r->cb);
  napi_delete_reference(env, r->cqe_view);
  napi_async_destroy(env, r->actx);
  ring_unref(r);
}

static void ring_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  ring_shutdown(env, data);
}

static napi_value js_create(napi_env env, napi_callback_info info) {
  ARGS(3)
  int64_t entries;
  if (!get_i64(env, argv[0], &entries)) return NULL;
  napi_typedarray_type t;
  size_t len, off;
  void *data;
  napi_value ab;
  if (napi_get_typedarray_info(env, argv[1], &t, &len, &data, &ab, &off) != napi_ok || t != napi_int32_array || len < 3) {
    napi_throw_type_error(env, NULL, "expected an Int32Array for CQEs");
    return NULL;
  }
  ring_t *r = calloc(1, sizeof *r);
  if (!r) return throw_errno(env, ENOMEM, "calloc");
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
  p.cq_entries = (uint32_t)entries * 4;
  int rc = io_uring_queue_init_params((unsigned)entries, &r->ring, &p);
  if (rc < 0) {
    free(r);
    return throw_errno(env, -rc, "io_uring_setup");
  }
  r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (r->efd < 0 || (rc = io_uring_register_eventfd(&r->ring, r->efd)) < 0) {
    int e = r->efd < 0 ? errno : -rc;
    if (r->efd >= 0) close(r->efd);
    io_uring_queue_exit(&r->ring);
    free(r);
    return throw_errno(env, e, "eventfd");
  }
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &r->poll, r->efd);
  r->poll.data = r;
  uv_poll_start(&r->poll, UV_READABLE, on_poll);
  uv_unref((uv_handle_t *)&r->poll);
  r->env = env;
  r->cqe_buf = data;
  r->cqe_cap = (uint32_t)(len / 3);
  napi_create_reference(env, argv[1], 1, &r->cqe_view);
  napi_create_reference(env, argv[2], 1, &r->cb);
  napi_value name;
  napi_create_string_utf8(env, "io_uring", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &r->actx);
  r->open = 1;
  r->refs = 2; /* open + uv handle */
  napi_value ext;
  napi_create_external(env, r, ring_finalize, NULL, &ext);
  return ext;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  ARGS(1)
  void *p = NULL;
  if (napi_get_value_external(env, argv[0], &p) != napi_ok || !p) return NULL;
  ring_shutdown(env, p);
  return undef(env);
}

static napi_value js_flush(napi_env env, napi_callback_info info) {
  ARGS(1)
  ring_t *r;
  if (!get_ring(env, argv[0], &r)) return NULL;
  int rc = submit_pending(r);
  if (rc < 0) return throw_errno(env, -rc, "io_uring_submit");
  return num(env, rc);
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  ARGS(1)
  ring_t *r;
  if (!get_ring(env, argv[0], &r)) return NULL;
  napi_value o;
  napi_create_object(env, &o);
  napi_set_named_property(env, o, "enters", num(env, (double)r->enters));
  napi_set_named_property(env, o, "submitted", num(env, (double)r->submitted));
  napi_set_named_property(env, o, "completions", num(env, (double)r->cqes));
  napi_set_named_property(env, o, "inflight", num(env, (double)r->inflight));
  napi_set_named_property(env, o, "pending", num(env, (double)r->pending));
  return o;
}

/* ---- file operations ---- */

/* prepReadv(ring, id, fd, buffers, offset) / prepWritev(...) */
static napi_value rw(napi_env env, napi_callback_info info, int write) {
  ARGS(5)
  ring_t *r;
  int64_t id, fd, offset;
  if (!get_ring(env, argv[0], &r) || !get_i64(env, argv[1], &id) || !get_i64(env, argv[2], &fd) ||
      !get_i64(env, argv[4], &offset))
    return NULL;
  uint32_t n;
  struct iovec *iov = iov_from(env, r, argv[3], &n);
  if (!iov) return NULL;
  struct io_uring_sqe *sqe = get_sqe(env, r);
  if (!sqe) return NULL;
  if (write)
    io_uring_prep_writev(sqe, (int)fd, iov, n, (uint64_t)offset);
  else
    io_uring_prep_readv(sqe, (int)fd, iov, n, (uint64_t)offset);
  prepared(r, sqe, id);
  return undef(env);
}
static napi_value js_readv(napi_env env, napi_callback_info info) { return rw(env, info, 0); }
static napi_value js_writev(napi_env env, napi_callback_info info) { return rw(env, info, 1); }

/* prepFsync(ring, id, fd, datasync) */
static napi_value js_fsync(napi_env env, napi_callback_info info) {
  ARGS(4)
  ring_t *r;
  int64_t id, fd;
  bool ds = false;
  if (!get_ring(env, argv[0], &r) || !get_i64(env, argv[1], &id) || !get_i64(env, argv[2], &fd)) return NULL;
  napi_get_value_bool(env, argv[3], &ds);
  struct io_uring_sqe *sqe = get_sqe(env, r);
  if (!sqe) return NULL;
  io_uring_prep_fsync(sqe, (int)fd, ds ? IORING_FSYNC_DATASYNC : 0);
  prepared(r, sqe, id);
  return undef(env);
}

/* prepFallocate(ring, id, fd, mode, offset, length) */
static napi_value js_fallocate(napi_env env, napi_callback_info info) {
  ARGS(6)
  ring_t *r;
  int64_t id, fd, mode, offset, length;
  if (!get_ring(env, argv[0], &r) || !get_i64(env, argv[1], &id) || !get_i64(env, argv[2], &fd) ||
      !get_i64(env, argv[3], &mode) || !get_i64(env, argv[4], &offset) || !get_i64(env, argv[5], &length))
    return NULL;
  struct io_uring_sqe *sqe = get_sqe(env, r);
  if (!sqe) return NULL;
  io_uring_prep_fallocate(sqe, (int)fd, (int)mode, (off_t)offset, (off_t)length);
  prepared(r, sqe, id);
  return undef(env);
}

/* ---- socket operations ---- */

/* prepAccept(ring, id, fd, multishot) */
static napi_value js_accept(napi_env env, napi_callback_info info) {
  ARGS(4)
  ring_t *r;
  int64_t id, fd;
  bool multi = false;
  if (!get_ring(env, argv[0], &r) || !get_i64(env, argv[1], &id) || !get_i64(env, argv[2], &fd)) return NULL;
  napi_get_value_bool(env, argv[3], &multi);
  struct io_uring_sqe *sqe = get_sqe(env, r);
  if (!sqe) return NULL;
  if (multi)
    io_uring_prep_multishot_accept(sqe, (int)fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  else
    io_uring_prep_accept(sqe, (int)fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  prepared(r, sqe, id);
  return undef(env);
}

/* prepRecvMultishot(ring, id, fd, bgid): buffers are selected from group bgid. */
static napi_value js_recv(napi_env env, napi_callback_info info) {
  ARGS(4)
  ring_t *r;
  int64_t id, fd, bgid;
  if (!get_ring(env, argv[0], &r) || !get_i64(env, argv[1], &id) || !get_i64(env, argv[2], &fd) ||
      !get_i64(env, argv[3], &bgid))
    return NULL;
  struct io_uring_sqe *sqe = get_sqe(env, r);
  if (!sqe) return NULL;
  io_uring_prep_recv_multishot(sqe, (int)fd, NULL, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = (uint16_t)bgid;
  prepared(r, sqe, id);
  return undef(env);
}

/* prepSendmsg(ring, id, fd, buffers, zc): vectored send; zc = SENDMSG_ZC with REPORT_USAGE. */
static napi_value js_sendmsg(napi_env env, napi_callback_info info) {
  ARGS(5)
  ring_t *r;
  int64_t id, fd;
  bool zc = false;
  if (!get_ring(env, argv[0], &r) || !get_i64(env, argv[1], &id) || !get_i64(env, argv[2], &fd)) return NULL;
  napi_get_value_bool(env, argv[4], &zc);
  uint32_t n;
  struct iovec *iov = iov_from(env, r, argv[3], &n);
  if (!iov) return NULL;
  struct msghdr *m = msg_alloc(env, r);
  if (!m) return NULL;
  m->msg_iov = iov;
  m->msg_iovlen = n;
  struct io_uring_sqe *sqe = get_sqe(env, r);
  if (!sqe) return NULL;
  if (zc) {
    io_uring_prep_sendmsg_zc(sqe, (int)fd, m, MSG_NOSIGNAL | MSG_WAITALL);
    sqe->ioprio |= IORING_SEND_ZC_REPORT_USAGE;
  } else {
    io_uring_prep_sendmsg(sqe, (int)fd, m, MSG_NOSIGNAL | MSG_WAITALL);
  }
  prepared(r, sqe, id);
  return undef(env);
}

/* prepSend(ring, id, fd, buffer, zc) */
static napi_value js_send(napi_env env, napi_callback_info info) {
  ARGS(5)
  ring_t *r;
  int64_t id, fd;
  bool zc = false;
  void *data;
  size_t len;
  if (!get_ring(env, argv[0], &r) || !get_i64(env, argv[1], &id) || !get_i64(env, argv[2], &fd) ||
      !get_bytes(env, argv[3], &data, &len))
    return NULL;
  napi_get_value_bool(env, argv[4], &zc);
  struct io_uring_sqe *sqe = get_sqe(env, r);
  if (!sqe) return NULL;
  if (zc)
    io_uring_prep_send_zc(sqe, (int)fd, data, len, MSG_NOSIGNAL | MSG_WAITALL, IORING_SEND_ZC_REPORT_USAGE);
  else
    io_uring_prep_send(sqe, (int)fd, data, len, MSG_NOSIGNAL | MSG_WAITALL);
  prepared(r, sqe, id);
  return undef(env);
}

/* prepCancel(ring, id, targetId) — targetId -1: every request on the ring. */
static napi_value js_cancel(napi_env env, napi_callback_info info) {
  ARGS(3)
  ring_t *r;
  int64_t id, target;
  if (!get_ring(env, argv[0], &r) || !get_i64(env, argv[1], &id) || !get_i64(env, argv[2], &target)) return NULL;
  struct io_uring_sqe *sqe = get_sqe(env, r);
  if (!sqe) return NULL;
  if (target < 0)
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
  else
    io_uring_prep_cancel64(sqe, (uint64_t)(uint32_t)target, 0);
  prepared(r, sqe, id);
  return undef(env);
}

/* prepClose(ring, id, fd) / prepShutdown(ring, id, fd) */
static napi_value js_close_fd(napi_env env, napi_callback_info info) {
  ARGS(3)
  ring_t *r;
  int64_t id, fd;
  if (!get_ring(env, argv[0], &r) || !get_i64(env, argv[1], &id) || !get_i64(env, argv[2], &fd)) return NULL;
  struct io_uring_sqe *sqe = get_sqe(env, r);
  if (!sqe) return NULL;
  io_uring_prep_close(sqe, (int)fd);
  prepared(r, sqe, id);
  return undef(env);
}
static napi_value js_shutdown(napi_env env, napi_callback_info info) {
  ARGS(3)
  ring_t *r;
  int64_t id, fd;
  if (!get_ring(env, argv[0], &r) || !get_i64(env, argv[1], &id) || !get_i64(env, argv[2], &fd)) return NULL;
  struct io_uring_sqe *sqe = get_sqe(env, r);
  if (!sqe) return NULL;
  io_uring_prep_shutdown(sqe, (int)fd, SHUT_WR);
  prepared(r, sqe, id);
  return undef(env);
}

/* ---- provided buffer rings ---- */

/* bufRingRegister(ring, bgid, entries): entries a power of two. */
static napi_value js_buf_register(napi_env env, napi_callback_info info) {
  ARGS(3)
  ring_t *r;
  int64_t bgid, entries;
  if (!get_ring(env, argv[0], &r) || !get_i64(env, argv[1], &bgid) || !get_i64(env, argv[2], &entries)) return NULL;
  if (bgid < 0 || bgid >= MAX_GROUPS || r->groups[bgid] || entries < 1 || entries > 32768 || (entries & (entries - 1))) {
    napi_throw_range_error(env, NULL, "bad buffer group or entry count");
    return NULL;
  }
  group_t *g = calloc(1, sizeof *g);
  if (!g) return throw_errno(env, ENOMEM, "calloc");
  size_t bytes = (size_t)entries * sizeof(struct io_uring_buf);
  void *mem = NULL;
  if (posix_memalign(&mem, 4096, bytes) != 0) {
    free(g);
    return throw_errno(env, ENOMEM, "posix_memalign");
  }
  memset(mem, 0, bytes);
  struct io_uring_buf_reg reg;
  memset(&reg, 0, sizeof reg);
  reg.ring_addr = (uint64_t)(uintptr_t)mem;
  reg.ring_entries = (uint32_t)entries;
  reg.bgid = (uint16_t)bgid;
  int rc = io_uring_register_buf_ring(&r->ring, &reg, 0);
  if (rc < 0) {
    free(mem);
    free(g);
    return throw_errno(env, -rc, "io_uring_register_buf_ring");
  }
  g->br = mem;
  g->entries = (uint32_t)entries;
  r->groups[bgid] = g;
  return undef(env);
}

/* bufRingUnregister(ring, bgid): only once no request selects from it. */
static napi_value js_buf_unregister(napi_env env, napi_callback_info info) {
  ARGS(2)
  ring_t *r;
  int64_t bgid;
  if (!get_ring(env, argv[0], &r) || !get_i64(env, argv[1], &bgid)) return NULL;
  if (bgid < 0 || bgid >= MAX_GROUPS || !r->groups[bgid]) return undef(env);
  io_uring_unregister_buf_ring(&r->ring, (int)bgid);
  free(r->groups[bgid]->br);
  free(r->groups[bgid]);
  r->groups[bgid] = NULL;
  return undef(env);
}

/*
 * bufRingAdd(ring, bgid, buffer, bid): provides `buffer` (a JS-owned Buffer)
 * as buffer id `bid` of group `bgid`. The kernel may write into it from now
 * until a recv CQE reports `bid`; the caller keeps `buffer` reachable.
 */
static napi_value js_buf_add(napi_env env, napi_callback_info info) {
  ARGS(4)
  ring_t *r;
  int64_t bgid, bid;
  void *data;
  size_t len;
  if (!get_ring(env, argv[0], &r) || !get_i64(env, argv[1], &bgid) || !get_bytes(env, argv[2], &data, &len) ||
      !get_i64(env, argv[3], &bid))
    return NULL;
  if (bgid < 0 || bgid >= MAX_GROUPS || !r->groups[bgid] || bid < 0 || bid > 0xffff) {
    napi_throw_range_error(env, NULL, "bad buffer group or id");
    return NULL;
  }
  group_t *g = r->groups[bgid];
  io_uring_buf_ring_add(g->br, data, (unsigned)len, (unsigned short)bid, io_uring_buf_ring_mask(g->entries), 0);
  io_uring_buf_ring_advance(g->br, 1);
  return undef(env);
}

static void alias_finalize(napi_env env, void *data, void *hint) {
  (void)data;
  alias_t *a = hint;
  ring_t *r = a->r;
  int64_t adj;
  napi_adjust_external_memory(env, -(int64_t)a->len, &adj);
  napi_delete_reference(env, a->backing);
  if (r->open) {
    if (r->returned_len == r->returned_cap) {
      uint32_t cap = r->returned_cap ? r->returned_cap * 2 : 64;
      uint32_t *n = realloc(r->returned, cap * sizeof *n);
      if (n) {
        r->returned = n;
        r->returned_cap = cap;
      }
    }
    if (r->returned_len < r->returned_cap) {
      r->returned[r->returned_len++] = (a->bgid << 16) | a->bid;
      uint64_t one = 1;
      ssize_t w = write(r->efd, &one, sizeof one);
      (void)w;
    }
  }
  ring_unref(r);
  free(a);
}

/*
 * alias(ring, backing, length, bgid, bid) -> Buffer over backing[0, length)
 * (no copy). When the GC collects the alias (the last view of the received
 * bytes), a [-1, bgid, bid] triple is reported so the pool can re-provide
 * `backing`. Until then the alias keeps `backing` alive.
 */
static napi_value js_alias(napi_env env, napi_callback_info info) {
  ARGS(5)
  ring_t *r;
  void *data;
  size_t len;
  int64_t length, bgid, bid;
  if (!get_ring(env, argv[0], &r) || !get_bytes(env, argv[1], &data, &len) || !get_i64(env, argv[2], &length) ||
      !get_i64(env, argv[3], &bgid) || !get_i64(env, argv[4], &bid))
    return NULL;
  if (length < 0 || (size_t)length > len) {
    napi_throw_range_error(env, NULL, "alias longer than its backing Buffer");
    return NULL;
  }
  alias_t *a = calloc(1, sizeof *a);
  if (!a) return throw_errno(env, ENOMEM, "calloc");
  a->r = r;
  a->bgid = (uint32_t)bgid;
  a->bid = (uint32_t)bid;
  a->len = (size_t)length;
  napi_create_reference(env, argv[1], 1, &a->backing);
  r->refs++;
  napi_value out;
  if (napi_create_external_buffer(env, (size_t)length, data, alias_finalize, a, &out) != napi_ok) {
    napi_delete_reference(env, a->backing);
    r->refs--;
    free(a);
    return NULL;
  }
  int64_t adj;
  napi_adjust_external_memory(env, length, &adj);
  return out;
}

/* ---- socket helpers (synchronous system calls) ---- */

static int parse_addr(const char *host, int port, struct sockaddr_storage *ss, socklen_t *sl) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    *sl = sizeof *a4;
    return 1;
  }
  if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    *sl = sizeof *a6;
    return 1;
  }
  return 0;
}

static int get_host_port(napi_env env, napi_value *argv, char *host, size_t hl, int64_t *port) {
  size_t n;
  if (napi_get_value_string_utf8(env, argv[0], host, hl, &n) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a host string");
    return 0;
  }
  return get_i64(env, argv[1], port);
}

/* listenTcp(host, port, backlog) -> fd (numeric host addresses only). */
static napi_value js_listen(napi_env env, napi_callback_info info) {
  ARGS(3)
  char host[128];
  int64_t port, backlog;
  if (!get_host_port(env, argv, host, sizeof host, &port) || !get_i64(env, argv[2], &backlog)) return NULL;
  struct sockaddr_storage ss;
  socklen_t sl;
  if (!parse_addr(host, (int)port, &ss, &sl)) return throw_errno(env, EINVAL, "not a numeric address");
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, (int)backlog) != 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "bind/listen");
  }
  return num(env, fd);
}

/* connectTcp(host, port) -> fd (blocking connect, then non-blocking; numeric hosts). */
static napi_value js_connect(napi_env env, napi_callback_info info) {
  ARGS(2)
  char host[128];
  int64_t port;
  if (!get_host_port(env, argv, host, sizeof host, &port)) return NULL;
  struct sockaddr_storage ss;
  socklen_t sl;
  if (!parse_addr(host, (int)port, &ss, &sl)) return throw_errno(env, EINVAL, "not a numeric address");
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket");
  int rc;
  do {
    rc = connect(fd, (struct sockaddr *)&ss, sl);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "connect");
  }
  int fl = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  return num(env, fd);
}

static napi_value addr_obj(napi_env env, struct sockaddr_storage *ss) {
  char buf[INET6_ADDRSTRLEN] = "";
  int port = 0;
  if (ss->ss_family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    port = ntohs(a->sin_port);
  } else if (ss->ss_family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    port = ntohs(a->sin6_port);
  }
  napi_value o, s;
  napi_create_object(env, &o);
  napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, o, "address", s);
  napi_set_named_property(env, o, "port", num(env, port));
  return o;
}

/* sockName(fd, peer) -> { address, port } */
static napi_value js_sockname(napi_env env, napi_callback_info info) {
  ARGS(2)
  int64_t fd;
  bool peer = false;
  if (!get_i64(env, argv[0], &fd)) return NULL;
  napi_get_value_bool(env, argv[1], &peer);
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  memset(&ss, 0, sizeof ss);
  int rc = peer ? getpeername((int)fd, (struct sockaddr *)&ss, &sl) : getsockname((int)fd, (struct sockaddr *)&ss, &sl);
  if (rc != 0) return throw_errno(env, errno, peer ? "getpeername" : "getsockname");
  return addr_obj(env, &ss);
}

/* setNoDelay(fd) */
static napi_value js_nodelay(napi_env env, napi_callback_info info) {
  ARGS(1)
  int64_t fd;
  if (!get_i64(env, argv[0], &fd)) return NULL;
  int one = 1;
  if (setsockopt((int)fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) return throw_errno(env, errno, "setsockopt");
  return undef(env);
}

/* closeFd(fd): plain close(2), for descriptors that never reached a ring. */
static napi_value js_closefd(napi_env env, napi_callback_info info) {
  ARGS(1)
  int64_t fd;
  if (!get_i64(env, argv[0], &fd)) return NULL;
  close((int)fd);
  return undef(env);
}

/* probe() -> 0 if a ring can be created and SEND_ZC / PBUF rings are supported, else a positive errno. */
static napi_value js_probe(napi_env env, napi_callback_info info) {
  (void)info;
  struct io_uring ring;
  int rc = io_uring_queue_init(2, &ring, 0);
  if (rc < 0) return num(env, -rc);
  struct io_uring_probe *p = io_uring_get_probe_ring(&ring);
  int missing = 0;
  if (!p) {
    missing = ENOSYS;
  } else {
    int ops[] = {IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC, IORING_OP_FALLOCATE, IORING_OP_ACCEPT,
                 IORING_OP_RECV, IORING_OP_SENDMSG, IORING_OP_SEND_ZC, IORING_OP_SENDMSG_ZC, IORING_OP_ASYNC_CANCEL,
                 IORING_OP_CLOSE, IORING_OP_SHUTDOWN};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
      if (!io_uring_opcode_supported(p, ops[i])) missing = EOPNOTSUPP;
    io_uring_free_probe(p);
  }
  io_uring_queue_exit(&ring);
  return num(env, missing);
}

#define FN(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_default, NULL}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      FN("probe", js_probe),
      FN("create", js_create),
      FN("close", js_close),
      FN("flush", js_flush),
      FN("stats", js_stats),
      FN("prepReadv", js_readv),
      FN("prepWritev", js_writev),
      FN("prepFsync", js_fsync),
      FN("prepFallocate", js_fallocate),
      FN("prepAccept", js_accept),
      FN("prepRecvMultishot", js_recv),
      FN("prepSendmsg", js_sendmsg),
      FN("prepSend", js_send),
      FN("prepCancel", js_cancel),
      FN("prepClose", js_close_fd),
      FN("prepShutdown", js_shutdown),
      FN("bufRingRegister", js_buf_register),
      FN("bufRingUnregister", js_buf_unregister),
      FN("bufRingAdd", js_buf_add),
      FN("alias", js_alias),
      FN("listenTcp", js_listen),
      FN("connectTcp", js_connect),
      FN("sockName", js_sockname),
      FN("setNoDelay", js_nodelay),
      FN("closeFd", js_closefd),
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
