// Times one kernel of bench/kernels.ts under Wasmtime (Cranelift), through the standard wasm.h C API
// of the engine's libwasmtime.so. Usage: wasmkern MS KERNEL INPUT MODULE... ; prints best ns per call
// for each module.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct { size_t size; char *data; } wasm_byte_vec_t;
typedef struct wasm_engine_t wasm_engine_t;
typedef struct wasm_store_t wasm_store_t;
typedef struct wasm_module_t wasm_module_t;
typedef struct wasm_instance_t wasm_instance_t;
typedef struct wasm_extern_t wasm_extern_t;
typedef struct wasm_func_t wasm_func_t;
typedef struct wasm_memory_t wasm_memory_t;
typedef struct wasm_trap_t wasm_trap_t;
typedef struct wasm_exporttype_t wasm_exporttype_t;
typedef struct { size_t size; wasm_extern_t **data; } wasm_extern_vec_t;
typedef struct { size_t size; wasm_exporttype_t **data; } wasm_exporttype_vec_t;
typedef struct { uint8_t kind; union { int32_t i32; int64_t i64; float f32; double f64; void *ref; } of; } wasm_val_t;
typedef struct { size_t size; wasm_val_t *data; } wasm_val_vec_t;

typedef struct wasm_config_t wasm_config_t;
wasm_engine_t *wasm_engine_new(void);
wasm_config_t *wasm_config_new(void);
wasm_engine_t *wasm_engine_new_with_config(wasm_config_t *);
void wasmtime_config_profiler_set(wasm_config_t *, uint8_t);
wasm_store_t *wasm_store_new(wasm_engine_t *);
wasm_module_t *wasm_module_new(wasm_store_t *, const wasm_byte_vec_t *);
wasm_instance_t *wasm_instance_new(wasm_store_t *, const wasm_module_t *, const wasm_extern_vec_t *, wasm_trap_t **);
void wasm_instance_exports(const wasm_instance_t *, wasm_extern_vec_t *);
void wasm_module_exports(const wasm_module_t *, wasm_exporttype_vec_t *);
const wasm_byte_vec_t *wasm_exporttype_name(const wasm_exporttype_t *);
wasm_func_t *wasm_extern_as_func(wasm_extern_t *);
wasm_memory_t *wasm_extern_as_memory(wasm_extern_t *);
char *wasm_memory_data(wasm_memory_t *);
wasm_trap_t *wasm_func_call(const wasm_func_t *, const wasm_val_vec_t *, wasm_val_vec_t *);

typedef struct { wasm_module_t *m; wasm_extern_vec_t ex; wasm_exporttype_vec_t et; } Mod;

static wasm_extern_t *get(Mod *m, const char *name) {
  for (size_t i = 0; i < m->et.size; i++) {
    const wasm_byte_vec_t *n = wasm_exporttype_name(m->et.data[i]);
    if (n->size == strlen(name) && memcmp(n->data, name, n->size) == 0) return m->ex.data[i];
  }
  fprintf(stderr, "no export %s\n", name);
  exit(1);
}

static int64_t call(Mod *m, const char *name, int n, int32_t a, int32_t b, int32_t c) {
  wasm_val_t args[3] = {{.kind = 0, .of.i32 = a}, {.kind = 0, .of.i32 = b}, {.kind = 0, .of.i32 = c}};
  wasm_val_t res[1] = {{.kind = 0}};
  wasm_val_vec_t av = {(size_t)n, args}, rv = {1, res};
  if (strcmp(name, "_initialize") == 0) rv.size = 0;
  if (wasm_func_call(wasm_extern_as_func(get(m, name)), &av, &rv)) { fprintf(stderr, "trap in %s\n", name); exit(1); }
  return res[0].of.i32;
}

static double cpu_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) { perror(path); exit(1); }
  fseek(f, 0, SEEK_END); *len = ftell(f); fseek(f, 0, SEEK_SET);
  char *d = malloc(*len); if (fread(d, 1, *len, f) != *len) exit(1); fclose(f);
  return d;
}

static int64_t run(Mod *m, const char *kernel, int32_t n, int32_t reps) {
  if (!strcmp(kernel, "validate")) return call(m, "validate", 2, n, reps, 0);
  if (!strcmp(kernel, "copy")) return call(m, "json", 3, n, reps, 0);
  if (!strcmp(kernel, "masked")) return call(m, "json", 3, n, reps, 1);
  if (!strcmp(kernel, "gunzip")) return call(m, "gunzip", 2, n, reps, 0);
  return call(m, "crc", 2, n, reps, 0);
}

int main(int argc, char **argv) {
  if (argc < 5) { fprintf(stderr, "usage: wasmkern MS KERNEL INPUT MODULE...\n"); return 2; }
  double budget = atof(argv[1]);
  const char *kernel = argv[2];
  size_t inLen; char *in = slurp(argv[3], &inLen);
  int nm = argc - 4;
  // WASMKERN_PROFILE=jitdump|perfmap: code maps for `perf record -k mono` / `perf record`.
  const char *prof = getenv("WASMKERN_PROFILE");
  wasm_config_t *config = wasm_config_new();
  if (prof) wasmtime_config_profiler_set(config, !strcmp(prof, "jitdump") ? 1 : 3);
  wasm_engine_t *engine = wasm_engine_new_with_config(config);
  wasm_store_t *store = wasm_store_new(engine);
  Mod mods[8];
  for (int i = 0; i < nm; i++) {
    size_t len; char *bin = slurp(argv[4 + i], &len);
    wasm_byte_vec_t bv = {len, bin};
    Mod *m = &mods[i];
    m->m = wasm_module_new(store, &bv);
    if (!m->m) { fprintf(stderr, "compile failed: %s\n", argv[4 + i]); return 1; }
    wasm_extern_vec_t imports = {0, NULL};
    wasm_trap_t *trap = NULL;
    wasm_instance_t *inst = wasm_instance_new(store, m->m, &imports, &trap);
    if (!inst) { fprintf(stderr, "instantiate failed\n"); return 1; }
    wasm_instance_exports(inst, &m->ex);
    wasm_module_exports(m->m, &m->et);
    call(m, "_initialize", 0, 0, 0, 0);
    int32_t p = (int32_t)call(m, "inputBuffer", 1, (int32_t)inLen, 0, 0);
    memcpy(wasm_memory_data(wasm_extern_as_memory(get(m, "memory"))) + p, in, inLen);
    int64_t r = run(m, kernel, (int32_t)inLen, 1);
    if (r < 0) { fprintf(stderr, "kernel %s failed on module %d\n", kernel, i); return 1; }
    if (i > 0) {
      int64_t r0 = run(&mods[0], kernel, (int32_t)inLen, 1);
      if (r0 != r) { fprintf(stderr, "modules disagree: %lld vs %lld\n", (long long)r0, (long long)r); return 1; }
    }
  }
  int32_t reps = 1;
  for (;;) {
    double t = cpu_ms();
    run(&mods[0], kernel, (int32_t)inLen, reps);
    if (cpu_ms() - t > 5) break;
    reps *= 2;
  }
  double best[8];
  for (int i = 0; i < nm; i++) best[i] = 1e18;
  struct timespec w0; clock_gettime(CLOCK_MONOTONIC, &w0);
  for (;;) {
    for (int i = 0; i < nm; i++) {
      double t = cpu_ms();
      run(&mods[i], kernel, (int32_t)inLen, reps);
      double d = (cpu_ms() - t) / reps;
      if (d < best[i]) best[i] = d;
    }
    struct timespec w; clock_gettime(CLOCK_MONOTONIC, &w);
    if ((w.tv_sec - w0.tv_sec) * 1e3 + (w.tv_nsec - w0.tv_nsec) / 1e6 > budget * nm) break;
  }
  for (int i = 0; i < nm; i++) printf("%s%.0f", i ? " " : "", best[i] * 1e6);
  printf("\n");
  return 0;
}
