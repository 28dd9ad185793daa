{
  "targets": [
    {
      "target_name": "ctl_rbd_native",
      "sources": ["ctl_rbd_native.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror", "-O2"],
      "libraries": ["-lrbd", "-lrados"]
    }
  ]
}
