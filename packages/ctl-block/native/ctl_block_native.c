/*
 * ctl_block_native: the Linux file-system calls the file backend needs
 * and Node's fs lacks, as a Node-API addon.
 *
 *   punchHole(fd, offset, length) -> Promise<void>
 *       fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset,
 *       length) on a libuv worker thread. Rejects with an Error whose
 *       `errno` property is the positive errno value.
 *   seekData(fd, offset) / seekHole(fd, offset) -> number
 *       lseek(fd, offset, SEEK_DATA / SEEK_HOLE), synchronous (a metadata
 *       lookup). Returns -1 for ENXIO (no data / hole at or after offset);
 *       throws an Error with `errno` otherwise.
 *   flock(fd, mode) -> boolean
 *       flock(fd, LOCK_SH | LOCK_NB) for mode 1, LOCK_EX | LOCK_NB for 2,
 *       LOCK_UN for 0; synchronous (never blocks). Returns false when
 *       another open file description holds a conflicting lock
 *       (EWOULDBLOCK); throws an Error with `errno` otherwise. The lock
 *       belongs to the open file description and ends when it is closed.
 *
 * It does nothing else: no buffers cross this boundary, and the callers
 * (src/hole-ops.ts) validate the arguments and map errno values to names.
 * lseek moves the descriptor's file position, which the backend never uses
 * (all its I/O is positional: preadv / pwritev).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

typedef struct {
  int fd;
  int64_t offset;
  int64_t length;
  int err;
  napi_async_work work;
  napi_deferred deferred;
} punch_req;

static napi_value errno_error(napi_env env, int err, const char *what) {
  napi_value msg, error, code;
  napi_create_string_utf8(env, what, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &error);
  napi_create_int32(env, err, &code);
  napi_set_named_property(env, error, "errno", code);
  return error;
}

/* Reads argument i as an integer; false (with a TypeError thrown) if it is not a number. */
static int int64_arg(napi_env env, napi_value *argv, size_t argc, size_t i, int64_t *out) {
  napi_valuetype type = napi_undefined;
  if (i >= argc || napi_typeof(env, argv[i], &type) != napi_ok || type != napi_number) {
    napi_throw_type_error(env, NULL, "expected a number argument");
    return 0;
  }
  return napi_get_value_int64(env, argv[i], out) == napi_ok;
}

static void punch_execute(napi_env env, void *data) {
  (void)env;
  punch_req *r = data;
  r->err = 0;
  if (fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)r->offset, (off_t)r->length) != 0) {
    r->err = errno;
  }
}

static void punch_complete(napi_env env, napi_status status, void *data) {
  punch_req *r = data;
  if (status == napi_ok && r->err == 0) {
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    napi_resolve_deferred(env, r->deferred, undefined);
  } else {
    napi_reject_deferred(env, r->deferred, errno_error(env, r->err != 0 ? r->err : ECANCELED, "fallocate(PUNCH_HOLE) failed"));
  }
  napi_delete_async_work(env, r->work);
  free(r);
}

static napi_value punch_hole(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int64_t fd, offset, length;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (!int64_arg(env, argv, argc, 0, &fd) || !int64_arg(env, argv, argc, 1, &offset) ||
      !int64_arg(env, argv, argc, 2, &length)) {
    return NULL;
  }
  if (fd < 0 || fd > INT32_MAX || offset < 0 || length <= 0) {
    napi_throw_range_error(env, NULL, "punchHole: fd, offset or length out of range");
    return NULL;
  }
  punch_req *r = calloc(1, sizeof(*r));
  if (r == NULL) {
    napi_throw_error(env, NULL, "punchHole: out of memory");
    return NULL;
  }
  r->fd = (int)fd;
  r->offset = offset;
  r->length = length;
  napi_value promise, name;
  napi_create_promise(env, &r->deferred, &promise);
  napi_create_string_utf8(env, "ctl_block_punch_hole", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, punch_execute, punch_complete, r, &r->work);
  napi_queue_async_work(env, r->work);
  return promise;
}

static napi_value seek(napi_env env, napi_callback_info info, int whence) {
  size_t argc = 2;
  napi_value argv[2];
  int64_t fd, offset;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (!int64_arg(env, argv, argc, 0, &fd) || !int64_arg(env, argv, argc, 1, &offset)) return NULL;
  if (fd < 0 || fd > INT32_MAX || offset < 0) {
    napi_throw_range_error(env, NULL, "seek: fd or offset out of range");
    return NULL;
  }
  off_t pos = lseek((int)fd, (off_t)offset, whence);
  napi_value result;
  if (pos < 0) {
    if (errno == ENXIO) {
      napi_create_int64(env, -1, &result);
      return result;
    }
    napi_throw(env, errno_error(env, errno, whence == SEEK_DATA ? "lseek(SEEK_DATA) failed" : "lseek(SEEK_HOLE) failed"));
    return NULL;
  }
  napi_create_int64(env, (int64_t)pos, &result);
  return result;
}

static napi_value seek_data(napi_env env, napi_callback_info info) { return seek(env, info, SEEK_DATA); }
static napi_value seek_hole(napi_env env, napi_callback_info info) { return seek(env, info, SEEK_HOLE); }

static napi_value flock_nb(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int64_t fd, mode;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (!int64_arg(env, argv, argc, 0, &fd) || !int64_arg(env, argv, argc, 1, &mode)) return NULL;
  if (fd < 0 || fd > INT32_MAX || mode < 0 || mode > 2) {
    napi_throw_range_error(env, NULL, "flock: fd or mode out of range");
    return NULL;
  }
  int op = mode == 0 ? LOCK_UN : (mode == 1 ? LOCK_SH : LOCK_EX) | LOCK_NB;
  int rc;
  do {
    rc = flock((int)fd, op);
  } while (rc != 0 && errno == EINTR);
  napi_value result;
  if (rc != 0) {
    if (errno == EWOULDBLOCK) {
      napi_get_boolean(env, false, &result);
      return result;
    }
    napi_throw(env, errno_error(env, errno, "flock failed"));
    return NULL;
  }
  napi_get_boolean(env, true, &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"punchHole", NULL, punch_hole, NULL, NULL, NULL, napi_enumerable, NULL},
      {"seekData", NULL, seek_data, NULL, NULL, NULL, napi_enumerable, NULL},
      {"seekHole", NULL, seek_hole, NULL, NULL, NULL, napi_enumerable, NULL},
      {"flock", NULL, flock_nb, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
