/*
 * ctl_rbd_native: a small N-API binding over librados/librbd for the CTL RBD
 * backend.
 *
 * What it does:
 *  - control operations (connect a cluster handle, open/close/create/resize an
 *    image, allocated-extent queries with rbd_diff_iterate2) run on the libuv
 *    thread pool as napi_async_work: they block on the monitors/OSDs;
 *  - data operations are librbd AIO only (rbd_aio_readv, rbd_aio_writev,
 *    rbd_aio_discard, rbd_aio_write_zeroes, rbd_aio_writesame,
 *    rbd_aio_compare_and_write, rbd_aio_flush). librbd calls the completion on
 *    its own finisher thread; that thread only links the finished operation
 *    onto a mutex-protected list and calls uv_async_send. The loop thread
 *    drains the list and calls each JS callback: no thread-pool hop per I/O.
 *  - rbd_stat and identity (rbd_get_id, pool id, cluster fsid) are local (no
 *    network round trip) and synchronous.
 *
 * What it does not do: no snapshots, clones, locks, watch/notify, no
 * authentication of its own (librados reads the keyring named by the conf).
 * It does not share cluster handles: the JS layer does (one per conf + id).
 *
 * Buffer ownership (every Buffer passed in is pinned):
 *  - readv(img, buffers, off, cb): each Buffer in `buffers` is written by
 *    librbd. The addon holds a napi_ref on every one of them from the call
 *    until just before `cb` runs; JS must neither read nor reuse them before
 *    `cb` (their contents are undefined until then).
 *  - writev(img, buffers, off, cb), writesame(img, off, len, buf, cb),
 *    compareAndWrite(img, off, cmp, data, cb): the Buffers are read by librbd
 *    (writev passes them as iovecs, no copy); the addon pins each with a
 *    napi_ref until just before `cb` runs; JS must not modify them until then.
 *  - discard/writeZeroes/flush take no Buffers.
 * The refs are dropped on the loop thread, after librbd's completion, so a
 * Buffer is never collected while librbd may still touch its memory.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#define CHECK(env, call)                                                        \
  do {                                                                          \
    if ((call) != napi_ok) {                                                    \
      napi_throw_error((env), NULL, "ctl_rbd_native: N-API call failed: " #call); \
      return NULL;                                                              \
    }                                                                           \
  } while (0)

#define MAX_PINS 1024
#include <stdio.h>

/* ---------- handles ---------- */

typedef struct {
  rados_t cluster;
  int connected;
} cluster_t;

typedef struct {
  rados_ioctx_t io;
  rbd_image_t image;
  int open;
} image_t;

/* ---------- the AIO completion queue (one per addon instance) ---------- */

struct addon;

typedef struct op {
  struct op *next;
  struct addon *addon;
  rbd_completion_t comp;
  napi_ref cb;
  struct iovec *iov;
  napi_ref *pins;
  uint32_t npins;
  uint64_t mismatch_off;
  int is_caw;
  ssize_t ret;
} op_t;

typedef struct addon {
  napi_env env;
  uv_async_t async;
  pthread_mutex_t lock;
  op_t *done_head;
  op_t *done_tail;
  uint64_t pending; /* ops submitted and not yet delivered (loop thread only) */
  napi_async_context actx;
  napi_ref resource;
  int closing;
} addon_t;

static void deliver(uv_async_t *handle);

static void on_complete(rbd_completion_t c, void *arg) {
  op_t *op = (op_t *)arg;
  addon_t *a = op->addon;
  (void)c;
  op->ret = rbd_aio_get_return_value(op->comp);
  pthread_mutex_lock(&a->lock);
  if (a->done_tail) a->done_tail->next = op;
  else a->done_head = op;
  a->done_tail = op;
  pthread_mutex_unlock(&a->lock);
  uv_async_send(&a->async);
}

static void op_free(napi_env env, op_t *op) {
  for (uint32_t i = 0; i < op->npins; i++) napi_delete_reference(env, op->pins[i]);
  if (op->cb) napi_delete_reference(env, op->cb);
  free(op->pins);
  free(op->iov);
  free(op);
}

static void deliver(uv_async_t *handle) {
  addon_t *a = (addon_t *)handle->data;
  napi_env env = a->env;
  pthread_mutex_lock(&a->lock);
  op_t *list = a->done_head;
  a->done_head = a->done_tail = NULL;
  pthread_mutex_unlock(&a->lock);
  if (!list) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value resource = NULL;
  napi_get_reference_value(env, a->resource, &resource);
  while (list) {
    op_t *op = list;
    list = op->next;
    rbd_aio_release(op->comp);
    napi_value cb = NULL, argv[2], result;
    napi_get_reference_value(env, op->cb, &cb);
    napi_create_int64(env, (int64_t)op->ret, &argv[0]);
    if (op->is_caw) napi_create_double(env, (double)op->mismatch_off, &argv[1]);
    else napi_get_undefined(env, &argv[1]);
    /* Unpin before the callback: the callback may recycle the Buffers. */
    for (uint32_t i = 0; i < op->npins; i++) napi_delete_reference(env, op->pins[i]);
    op->npins = 0;
    a->pending--;
    if (a->pending == 0 && !a->closing) uv_unref((uv_handle_t *)&a->async);
    if (cb) napi_make_callback(env, a->actx, resource, cb, 2, argv, &result);
    op_free(env, op);
    /* An exception thrown by a callback is reported by napi_make_callback as uncaught. */
  }
  napi_close_handle_scope(env, scope);
}

/* ---------- argument helpers ---------- */

static image_t *get_image(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, NULL, "expected an image handle");
    return NULL;
  }
  image_t *img = (image_t *)p;
  if (!img->open) {
    napi_throw_error(env, "ERR_RBD_CLOSED", "image is closed");
    return NULL;
  }
  return img;
}

static int get_u64(napi_env env, napi_value v, uint64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || d < 0 || d > 9007199254740991.0) {
    napi_throw_range_error(env, NULL, "expected a non-negative safe integer");
    return 0;
  }
  *out = (uint64_t)d;
  return 1;
}

static char *get_string(napi_env env, napi_value v) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a string");
    return NULL;
  }
  char *s = malloc(len + 1);
  if (!s) return NULL;
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

static addon_t *get_addon(napi_env env) {
  addon_t *a = NULL;
  napi_get_instance_data(env, (void **)&a);
  return a;
}

/* Allocates an op with a completion; pins `cb`. Returns NULL (exception pending) on failure. */
static op_t *op_new(napi_env env, napi_value cb, uint32_t npins) {
  napi_valuetype t;
  if (napi_typeof(env, cb, &t) != napi_ok || t != napi_function) {
    napi_throw_type_error(env, NULL, "expected a callback");
    return NULL;
  }
  op_t *op = calloc(1, sizeof(*op));
  if (!op) return NULL;
  if (npins) {
    op->pins = calloc(npins, sizeof(napi_ref));
    op->iov = calloc(npins, sizeof(struct iovec));
  }
  napi_create_reference(env, cb, 1, &op->cb);
  op->addon = get_addon(env);
  if (rbd_aio_create_completion(op, on_complete, &op->comp) < 0) {
    op_free(env, op);
    napi_throw_error(env, NULL, "rbd_aio_create_completion failed");
    return NULL;
  }
  return op;
}

static int pin_buffer(napi_env env, op_t *op, napi_value buf, void **data, size_t *len) {
  bool is;
  if (napi_is_buffer(env, buf, &is) != napi_ok || !is) {
    napi_throw_type_error(env, NULL, "expected a Buffer");
    return 0;
  }
  napi_get_buffer_info(env, buf, data, len);
  napi_create_reference(env, buf, 1, &op->pins[op->npins++]);
  return 1;
}

/* Called after a submit: a negative r means librbd refused synchronously. */
static napi_value submitted(napi_env env, op_t *op, int r) {
  if (r < 0) {
    rbd_aio_release(op->comp);
    op_free(env, op);
    napi_value v;
    napi_create_int32(env, r, &v);
    return v;
  }
  addon_t *a = get_addon(env);
  if (a->pending++ == 0) uv_ref((uv_handle_t *)&a->async);
  napi_value v;
  napi_create_int32(env, 0, &v);
  return v;
}

static void drop_unsubmitted(napi_env env, op_t *op) {
  rbd_aio_release(op->comp);
  op_free(env, op);
}

/* ---------- data operations (AIO) ---------- */

/* readv(img, buffers[], off, cb(ret)) / writev(img, buffers[], off, cb(ret)) */
static napi_value do_rw(napi_env env, napi_callback_info info, int write) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) {
    napi_throw_type_error(env, NULL, "expected (image, buffers, offset, cb)");
    return NULL;
  }
  image_t *img = get_image(env, argv[0]);
  if (!img) return NULL;
  uint32_t n = 0;
  bool isarr = false;
  napi_is_array(env, argv[1], &isarr);
  if (!isarr || napi_get_array_length(env, argv[1], &n) != napi_ok || n == 0 || n > MAX_PINS) {
    napi_throw_type_error(env, NULL, "expected 1..1024 Buffers");
    return NULL;
  }
  uint64_t off;
  if (!get_u64(env, argv[2], &off)) return NULL;
  op_t *op = op_new(env, argv[3], n);
  if (!op) return NULL;
  for (uint32_t i = 0; i < n; i++) {
    napi_value b;
    void *data;
    size_t len;
    napi_get_element(env, argv[1], i, &b);
    if (!pin_buffer(env, op, b, &data, &len)) {
      drop_unsubmitted(env, op);
      return NULL;
    }
    op->iov[i].iov_base = data;
    op->iov[i].iov_len = len;
  }
  int r = write ? rbd_aio_writev(img->image, op->iov, (int)n, off, op->comp)
                : rbd_aio_readv(img->image, op->iov, (int)n, off, op->comp);
  return submitted(env, op, r);
}

static napi_value js_readv(napi_env env, napi_callback_info info) { return do_rw(env, info, 0); }
static napi_value js_writev(napi_env env, napi_callback_info info) { return do_rw(env, info, 1); }

/* discard(img, off, len, cb) / writeZeroes(img, off, len, cb) */
static napi_value do_range(napi_env env, napi_callback_info info, int zeroes) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) {
    napi_throw_type_error(env, NULL, "expected (image, offset, length, cb)");
    return NULL;
  }
  image_t *img = get_image(env, argv[0]);
  if (!img) return NULL;
  uint64_t off, len;
  if (!get_u64(env, argv[1], &off) || !get_u64(env, argv[2], &len)) return NULL;
  op_t *op = op_new(env, argv[3], 0);
  if (!op) return NULL;
  int r = zeroes ? rbd_aio_write_zeroes(img->image, off, (size_t)len, op->comp, 0, 0)
                 : rbd_aio_discard(img->image, off, len, op->comp);
  return submitted(env, op, r);
}

static napi_value js_discard(napi_env env, napi_callback_info info) { return do_range(env, info, 0); }
static napi_value js_write_zeroes(napi_env env, napi_callback_info info) { return do_range(env, info, 1); }

/* writesame(img, off, len, buf, cb) */
static napi_value js_writesame(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) {
    napi_throw_type_error(env, NULL, "expected (image, offset, length, buffer, cb)");
    return NULL;
  }
  image_t *img = get_image(env, argv[0]);
  if (!img) return NULL;
  uint64_t off, len;
  if (!get_u64(env, argv[1], &off) || !get_u64(env, argv[2], &len)) return NULL;
  op_t *op = op_new(env, argv[4], 1);
  if (!op) return NULL;
  void *data;
  size_t dlen;
  if (!pin_buffer(env, op, argv[3], &data, &dlen)) {
    drop_unsubmitted(env, op);
    return NULL;
  }
  int r = rbd_aio_writesame(img->image, off, (size_t)len, data, dlen, op->comp, 0);
  return submitted(env, op, r);
}

/* compareAndWrite(img, off, cmp, data, cb(ret, mismatchOffset)) — ret -EILSEQ on miscompare */
static napi_value js_compare_and_write(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) {
    napi_throw_type_error(env, NULL, "expected (image, offset, compare, data, cb)");
    return NULL;
  }
  image_t *img = get_image(env, argv[0]);
  if (!img) return NULL;
  uint64_t off;
  if (!get_u64(env, argv[1], &off)) return NULL;
  op_t *op = op_new(env, argv[4], 2);
  if (!op) return NULL;
  void *cmp, *data;
  size_t clen, dlen;
  if (!pin_buffer(env, op, argv[2], &cmp, &clen) || !pin_buffer(env, op, argv[3], &data, &dlen)) {
    drop_unsubmitted(env, op);
    return NULL;
  }
  if (clen != dlen) {
    drop_unsubmitted(env, op);
    napi_throw_range_error(env, NULL, "compare and data Buffers must have the same length");
    return NULL;
  }
  op->is_caw = 1;
  ssize_t r = rbd_aio_compare_and_write(img->image, off, clen, cmp, data, op->comp, &op->mismatch_off, 0);
  return submitted(env, op, (int)r);
}

/* flush(img, cb) */
static napi_value js_flush(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "expected (image, cb)");
    return NULL;
  }
  image_t *img = get_image(env, argv[0]);
  if (!img) return NULL;
  op_t *op = op_new(env, argv[1], 0);
  if (!op) return NULL;
  return submitted(env, op, rbd_aio_flush(img->image, op->comp));
}

/* stat(img) -> { size, objectSize, order } */
static napi_value js_stat(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) return NULL;
  image_t *img = get_image(env, argv[0]);
  if (!img) return NULL;
  rbd_image_info_t st;
  int r = rbd_stat(img->image, &st, sizeof(st));
  napi_value out, v;
  napi_create_object(env, &out);
  napi_create_int32(env, r, &v);
  napi_set_named_property(env, out, "ret", v);
  if (r == 0) {
    napi_create_double(env, (double)st.size, &v);
    napi_set_named_property(env, out, "size", v);
    napi_create_double(env, (double)st.obj_size, &v);
    napi_set_named_property(env, out, "objectSize", v);
    napi_create_int32(env, st.order, &v);
    napi_set_named_property(env, out, "order", v);
  }
  return out;
}

/* identity(img) -> { ret, imageId, poolId, fsid }: what names the image on
 * every client of the cluster (rbd_get_id, rados_ioctx_get_id,
 * rados_cluster_fsid). All three are local (read at open/connect). */
static napi_value js_identity(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) return NULL;
  image_t *img = get_image(env, argv[0]);
  if (!img) return NULL;
  char id[256];
  char fsid[64];
  int r = rbd_get_id(img->image, id, sizeof(id));
  if (r == 0) {
    int f = rados_cluster_fsid(rados_ioctx_get_cluster(img->io), fsid, sizeof(fsid));
    if (f < 0) r = f;
  }
  napi_value out, v;
  napi_create_object(env, &out);
  napi_create_int32(env, r, &v);
  napi_set_named_property(env, out, "ret", v);
  if (r == 0) {
    napi_create_string_utf8(env, id, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, out, "imageId", v);
    napi_create_double(env, (double)rados_ioctx_get_id(img->io), &v);
    napi_set_named_property(env, out, "poolId", v);
    napi_create_string_utf8(env, fsid, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, out, "fsid", v);
  }
  return out;
}

/* ---------- control operations (thread pool) ---------- */

enum work_kind { W_CONNECT, W_OPEN, W_CREATE, W_CLOSE, W_RESIZE, W_DIFF, W_SHUTDOWN };

typedef struct {
  napi_async_work work;
  napi_ref cb;
  enum work_kind kind;
  int ret;
  char *conf, *id, *pool, *ns, *name;
  cluster_t *cluster;
  image_t *image;
  uint64_t a, b; /* size / offset+length */
  uint64_t *extents; /* DIFF: (offset,length) pairs */
  size_t nextents, capextents;
  napi_ref keep; /* the cluster/image external, kept alive during the work */
} work_t;

static int diff_cb(uint64_t off, size_t len, int exists, void *arg) {
  work_t *w = (work_t *)arg;
  if (!exists) return 0;
  if (w->nextents > 0) {
    uint64_t *last = &w->extents[2 * (w->nextents - 1)];
    if (last[0] + last[1] == off) {
      last[1] += len;
      return 0;
    }
  }
  if (w->nextents == w->capextents) {
    size_t cap = w->capextents ? w->capextents * 2 : 64;
    uint64_t *e = realloc(w->extents, cap * 2 * sizeof(uint64_t));
    if (!e) return -ENOMEM;
    w->extents = e;
    w->capextents = cap;
  }
  w->extents[2 * w->nextents] = off;
  w->extents[2 * w->nextents + 1] = len;
  w->nextents++;
  return 0;
}

static int open_ioctx(cluster_t *c, const char *pool, const char *ns, rados_ioctx_t *io) {
  int r = rados_ioctx_create(c->cluster, pool, io);
  if (r < 0) return r;
  rados_ioctx_set_namespace(*io, ns && *ns ? ns : NULL);
  return 0;
}

static void work_execute(napi_env env, void *data) {
  work_t *w = (work_t *)data;
  (void)env;
  switch (w->kind) {
    case W_CONNECT: {
      rados_t cl;
      int r = rados_create(&cl, w->id && *w->id ? w->id : NULL);
      if (r < 0) { w->ret = r; return; }
      if (w->conf && *w->conf) r = rados_conf_read_file(cl, w->conf);
      if (r == 0) r = rados_conf_parse_env(cl, NULL);
      /* No librbd cache: writes are acknowledged only once the OSD has them,
       * nothing splits or reorders them, and flush is cheap. */
      if (r == 0) r = rados_conf_set(cl, "rbd_cache", "false");
      /* A discard always reads back as zeros (SCSI LBPRZ): partial-object
       * ranges are zeroed, not skipped. */
      if (r == 0) r = rados_conf_set(cl, "rbd_skip_partial_discard", "false");
      /* An OSD that does not answer fails the operation (ETIMEDOUT, a SCSI
       * error for the initiator) instead of hanging the command for ever:
       * 25 s, under the 30 s SCSI timeout of common initiators, unless the
       * conf sets rados_osd_op_timeout itself. */
      if (r == 0) {
        char cur[32] = "";
        if (rados_conf_get(cl, "rados_osd_op_timeout", cur, sizeof cur) == 0 && strcmp(cur, "0") == 0) {
          r = rados_conf_set(cl, "rados_osd_op_timeout", "25");
        }
      }
      if (r == 0 && w->a) {
        char t[32];
        snprintf(t, sizeof t, "%llu", (unsigned long long)w->a);
        r = rados_conf_set(cl, "client_mount_timeout", t);
        if (r == 0) r = rados_conf_set(cl, "rados_mon_op_timeout", t);
      }
      if (r == 0) r = rados_connect(cl);
      if (r < 0) { rados_shutdown(cl); w->ret = r; return; }
      w->cluster = calloc(1, sizeof(cluster_t));
      w->cluster->cluster = cl;
      w->cluster->connected = 1;
      w->ret = 0;
      return;
    }
    case W_SHUTDOWN:
      if (w->cluster->connected) {
        w->cluster->connected = 0;
        rados_shutdown(w->cluster->cluster);
      }
      w->ret = 0;
      return;
    case W_OPEN: {
      rados_ioctx_t io;
      int r = open_ioctx(w->cluster, w->pool, w->ns, &io);
      if (r < 0) { w->ret = r; return; }
      rbd_image_t im;
      r = rbd_open(io, w->name, &im, NULL);
      if (r < 0) { rados_ioctx_destroy(io); w->ret = r; return; }
      w->image = calloc(1, sizeof(image_t));
      w->image->io = io;
      w->image->image = im;
      w->image->open = 1;
      w->ret = 0;
      return;
    }
    case W_CREATE: {
      rados_ioctx_t io;
      int r = open_ioctx(w->cluster, w->pool, w->ns, &io);
      if (r < 0) { w->ret = r; return; }
      rbd_image_options_t opts;
      rbd_image_options_create(&opts);
      if (w->b) rbd_image_options_set_uint64(opts, RBD_IMAGE_OPTION_ORDER, w->b);
      r = rbd_create4(io, w->name, w->a, opts);
      rbd_image_options_destroy(opts);
      rados_ioctx_destroy(io);
      w->ret = r;
      return;
    }
    case W_CLOSE:
      if (w->image->open) {
        w->image->open = 0;
        w->ret = rbd_close(w->image->image);
        rados_ioctx_destroy(w->image->io);
      }
      return;
    case W_RESIZE:
      w->ret = rbd_resize2(w->image->image, w->a, true, NULL, NULL);
      return;
    case W_DIFF:
      w->ret = rbd_diff_iterate2(w->image->image, NULL, w->a, w->b, 1, 0, diff_cb, w);
      return;
  }
}

static void finalize_cluster(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  cluster_t *c = (cluster_t *)data;
  /* Never shut down a connected cluster from the GC: the JS layer does it explicitly. */
  if (!c->connected) free(c);
}

static void finalize_image(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  image_t *i = (image_t *)data;
  if (!i->open) free(i);
}

static void work_complete(napi_env env, napi_status status, void *data) {
  work_t *w = (work_t *)data;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, argv[2], result, undef;
  napi_get_undefined(env, &undef);
  napi_get_reference_value(env, w->cb, &cb);
  napi_create_int32(env, status == napi_ok ? w->ret : -ECANCELED, &argv[0]);
  argv[1] = undef;
  if (status == napi_ok && w->ret >= 0) {
    if (w->kind == W_CONNECT) napi_create_external(env, w->cluster, finalize_cluster, NULL, &argv[1]);
    else if (w->kind == W_OPEN) napi_create_external(env, w->image, finalize_image, NULL, &argv[1]);
    else if (w->kind == W_DIFF) {
      napi_create_array_with_length(env, w->nextents * 2, &argv[1]);
      for (size_t i = 0; i < w->nextents * 2; i++) {
        napi_value v;
        napi_create_double(env, (double)w->extents[i], &v);
        napi_set_element(env, argv[1], (uint32_t)i, v);
      }
    }
  }
  napi_call_function(env, undef, cb, 2, argv, &result);
  napi_delete_reference(env, w->cb);
  if (w->keep) napi_delete_reference(env, w->keep);
  napi_delete_async_work(env, w->work);
  free(w->conf); free(w->id); free(w->pool); free(w->ns); free(w->name); free(w->extents);
  free(w);
  napi_close_handle_scope(env, scope);
}

static napi_value queue_work(napi_env env, work_t *w, napi_value cb, napi_value keep) {
  napi_valuetype t;
  if (napi_typeof(env, cb, &t) != napi_ok || t != napi_function) {
    napi_throw_type_error(env, NULL, "expected a callback");
    free(w->conf); free(w->id); free(w->pool); free(w->ns); free(w->name); free(w);
    return NULL;
  }
  napi_create_reference(env, cb, 1, &w->cb);
  if (keep) napi_create_reference(env, keep, 1, &w->keep);
  napi_value name;
  napi_create_string_utf8(env, "ctl_rbd", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, work_execute, work_complete, w, &w->work);
  napi_queue_async_work(env, w->work);
  return NULL;
}

static cluster_t *get_cluster(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, NULL, "expected a cluster handle");
    return NULL;
  }
  cluster_t *c = (cluster_t *)p;
  if (!c->connected) {
    napi_throw_error(env, "ERR_RBD_CLOSED", "cluster handle is shut down");
    return NULL;
  }
  return c;
}

/* connect(conf, id, timeoutSeconds, cb(ret, cluster)) */
static napi_value js_connect(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) { napi_throw_type_error(env, NULL, "expected (conf, id, timeout, cb)"); return NULL; }
  work_t *w = calloc(1, sizeof(*w));
  w->kind = W_CONNECT;
  w->conf = get_string(env, argv[0]);
  w->id = get_string(env, argv[1]);
  if (!w->conf || !w->id || !get_u64(env, argv[2], &w->a)) { free(w->conf); free(w->id); free(w); return NULL; }
  return queue_work(env, w, argv[3], NULL);
}

/* shutdown(cluster, cb(ret)) */
static napi_value js_shutdown(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) return NULL;
  cluster_t *c = get_cluster(env, argv[0]);
  if (!c) return NULL;
  work_t *w = calloc(1, sizeof(*w));
  w->kind = W_SHUTDOWN;
  w->cluster = c;
  return queue_work(env, w, argv[1], argv[0]);
}

/* open(cluster, pool, ns, name, cb(ret, image)) / create(cluster, pool, ns, name, size, order, cb(ret)) */
static napi_value do_open_create(napi_env env, napi_callback_info info, int create) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < (size_t)(create ? 7 : 5)) { napi_throw_type_error(env, NULL, "wrong number of arguments"); return NULL; }
  cluster_t *c = get_cluster(env, argv[0]);
  if (!c) return NULL;
  work_t *w = calloc(1, sizeof(*w));
  w->kind = create ? W_CREATE : W_OPEN;
  w->cluster = c;
  w->pool = get_string(env, argv[1]);
  w->ns = get_string(env, argv[2]);
  w->name = get_string(env, argv[3]);
  if (!w->pool || !w->ns || !w->name || (create && (!get_u64(env, argv[4], &w->a) || !get_u64(env, argv[5], &w->b)))) {
    free(w->pool); free(w->ns); free(w->name); free(w);
    return NULL;
  }
  return queue_work(env, w, argv[create ? 6 : 4], argv[0]);
}

static napi_value js_open(napi_env env, napi_callback_info info) { return do_open_create(env, info, 0); }
static napi_value js_create(napi_env env, napi_callback_info info) { return do_open_create(env, info, 1); }

/* close(img, cb(ret)); resize(img, size, cb(ret)); diff(img, off, len, cb(ret, [off,len,...])) */
static napi_value do_image_work(napi_env env, napi_callback_info info, enum work_kind kind, size_t nums) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < nums + 2) { napi_throw_type_error(env, NULL, "wrong number of arguments"); return NULL; }
  image_t *img = get_image(env, argv[0]);
  if (!img) return NULL;
  work_t *w = calloc(1, sizeof(*w));
  w->kind = kind;
  w->image = img;
  if ((nums >= 1 && !get_u64(env, argv[1], &w->a)) || (nums >= 2 && !get_u64(env, argv[2], &w->b))) { free(w); return NULL; }
  return queue_work(env, w, argv[nums + 1], argv[0]);
}

static napi_value js_close(napi_env env, napi_callback_info info) { return do_image_work(env, info, W_CLOSE, 0); }
static napi_value js_resize(napi_env env, napi_callback_info info) { return do_image_work(env, info, W_RESIZE, 1); }
static napi_value js_diff(napi_env env, napi_callback_info info) { return do_image_work(env, info, W_DIFF, 2); }

/* pending() -> number of AIO ops submitted and not yet delivered */
static napi_value js_pending(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  napi_create_double(env, (double)get_addon(env)->pending, &v);
  return v;
}

/* ---------- module lifetime ---------- */

static void on_async_closed(uv_handle_t *h) {
  addon_t *a = (addon_t *)h->data;
  pthread_mutex_destroy(&a->lock);
  free(a);
}

static void addon_cleanup(void *arg) {
  addon_t *a = (addon_t *)arg;
  a->closing = 1;
  napi_async_destroy(a->env, a->actx);
  napi_delete_reference(a->env, a->resource);
  uv_close((uv_handle_t *)&a->async, on_async_closed);
}

static void instance_data_noop(napi_env env, void *data, void *hint) {
  (void)env; (void)data; (void)hint;
}

NAPI_MODULE_INIT() {
  addon_t *a = calloc(1, sizeof(*a));
  a->env = env;
  pthread_mutex_init(&a->lock, NULL);
  uv_loop_t *loop = NULL;
  CHECK(env, napi_get_uv_event_loop(env, &loop));
  uv_async_init(loop, &a->async, deliver);
  a->async.data = a;
  uv_unref((uv_handle_t *)&a->async);
  napi_value resource, rname;
  napi_create_object(env, &resource);
  napi_create_reference(env, resource, 1, &a->resource);
  napi_create_string_utf8(env, "ctl_rbd_aio", NAPI_AUTO_LENGTH, &rname);
  CHECK(env, napi_async_init(env, resource, rname, &a->actx));
  CHECK(env, napi_set_instance_data(env, a, instance_data_noop, NULL));
  napi_add_env_cleanup_hook(env, addon_cleanup, a);

  napi_property_descriptor props[] = {
    {"connect", NULL, js_connect, NULL, NULL, NULL, napi_default, NULL},
    {"shutdown", NULL, js_shutdown, NULL, NULL, NULL, napi_default, NULL},
    {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
    {"create", NULL, js_create, NULL, NULL, NULL, napi_default, NULL},
    {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
    {"resize", NULL, js_resize, NULL, NULL, NULL, napi_default, NULL},
    {"diff", NULL, js_diff, NULL, NULL, NULL, napi_default, NULL},
    {"stat", NULL, js_stat, NULL, NULL, NULL, napi_default, NULL},
    {"identity", NULL, js_identity, NULL, NULL, NULL, napi_default, NULL},
    {"readv", NULL, js_readv, NULL, NULL, NULL, napi_default, NULL},
    {"writev", NULL, js_writev, NULL, NULL, NULL, napi_default, NULL},
    {"discard", NULL, js_discard, NULL, NULL, NULL, napi_default, NULL},
    {"writeZeroes", NULL, js_write_zeroes, NULL, NULL, NULL, napi_default, NULL},
    {"writesame", NULL, js_writesame, NULL, NULL, NULL, napi_default, NULL},
    {"compareAndWrite", NULL, js_compare_and_write, NULL, NULL, NULL, napi_default, NULL},
    {"flush", NULL, js_flush, NULL, NULL, NULL, napi_default, NULL},
    {"pending", NULL, js_pending, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(env, napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props));
  return exports;
}
