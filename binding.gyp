{
  "targets": [
    {
      "target_name": "slabkv_native",
      "sources": ["native/slabkv_native.c"],
      "cflags": ["-std=c11", "-Wall", "-Wextra", "-O2"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
