# deltabench: the only build entry.
#
#   make                 build bin/deltabench (installs missing system packages first)
#   make test            unit suites (Check), CLI tests, interop tests against h5py/safetensors
#   make test-gpu        GPU suites only; fails when no CUDA device is present
#   make bench           benchmarks; each prints ratios measured in the same run
#   make models          the model zoo (scripts/build-models.sh): base + fine-tunes, trained here
#   make SANITIZE=address,undefined test    the same suite under ASan + UBSan
#   make DEBUG=1         -O0 -g3 build
#   make CUDA=no         skip nvcc even when present (CUDA=auto by default, CUDA=yes to insist)
#   make nightly         nightly suite -> results/nightly/history.h5, results/dashboard/index.html
#   make reproduce-fig5  (and reproduce-<id>, reproduce-all: `bin/deltabench reproduce --list`)
#   make fuzz FUZZ_S=60  every libFuzzer target of tests/fuzz/ for FUZZ_S seconds (ASan + UBSan)
#   make coverage        gcov build, the suite, line and branch coverage per module (gcovr)
#   make clean

CUDA ?= auto
SANITIZE ?=
COVERAGE ?=
DEBUG ?=
CC ?= cc
# The interop tests run on the virtual environment install-deps.sh makes under build/.
PYTHON ?= $(CURDIR)/build/venv/bin/python

.DEFAULT_GOAL := all
VERSION := 0.1.0
# "-dirty" when tracked sources differ from HEAD; the reports the targets regenerate (paper.md,
# docs/models.md's zoo table, docs/figures/, results/reference/) do not count.
GIT_COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD -- . ':!paper.md' ':!docs/models.md' ':!docs/figures' ':!results/reference' 2>/dev/null || echo -dirty)

# ---- variant and build directory -------------------------------------------------------------
ifneq ($(COVERAGE),)
  # `make coverage`: gcc's gcov instrumentation, unoptimised so lines map one to one
  VARIANT := coverage
  OPT := -O0 -g --coverage
  SANFLAGS := --coverage
else ifneq ($(SANITIZE),)
  VARIANT := sanitize
  OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=$(SANITIZE) -fno-sanitize-recover=all
  SANFLAGS := -fsanitize=$(SANITIZE)
else ifneq ($(DEBUG),)
  VARIANT := debug
  OPT := -O0 -g3
else
  VARIANT := release
  OPT := -O2 -g
endif
B := build/$(VARIANT)
ifeq ($(VARIANT),release)
  BIN := bin/deltabench
else
  BIN := $(B)/bin/deltabench
endif

# ---- dependencies: install what is missing, then record the flags pkg-config gives -----------
# build/config.mk is remade (and make restarts) when it is missing or install-deps.sh changed.
NODEPS_GOALS := clean help
ifeq ($(filter-out $(NODEPS_GOALS),$(or $(MAKECMDGOALS),all)),)
else
include build/config.mk
endif

# OpenBLAS: Debian's default libopenblas.so is the pthreads build, which fights our OpenMP threads;
# link the OpenMP build by path (with an rpath) when it is installed, plain -lopenblas otherwise.
OPENBLAS_OMP_SH := ls /usr/lib/*/openblas-openmp/libopenblas.so.0 2>/dev/null | head -n 1
build/config.mk: scripts/install-deps.sh
	@mkdir -p build
	@scripts/install-deps.sh --check >/dev/null 2>&1 || scripts/install-deps.sh
	@blas=$$($(OPENBLAS_OMP_SH)); blas=$${blas:+$$blas -Wl,-rpath,$${blas%/*}}; \
	 { echo "DEP_CFLAGS := $$(pkg-config --cflags hdf5 libcjson check zlib libzstd)"; \
	   echo "DEP_LIBS := $$(pkg-config --libs hdf5 libcjson zlib libzstd) -lhdf5_hl $${blas:--lopenblas}"; \
	   echo "CHECK_LIBS := $$(pkg-config --libs check)"; } > $@.tmp && mv $@.tmp $@

# ---- CUDA detection ---------------------------------------------------------------------------
NVCC := $(or $(shell command -v nvcc 2>/dev/null),$(wildcard /usr/local/cuda/bin/nvcc))
ifeq ($(CUDA),no)
  NVCC :=
endif
ifeq ($(CUDA),yes)
  ifeq ($(NVCC),)
    $(error CUDA=yes but nvcc was found neither on PATH nor in /usr/local/cuda/bin)
  endif
endif
ifneq ($(NVCC),)
  CUDA_HOME := $(patsubst %/bin/nvcc,%,$(NVCC))
  CUDA_ON := yes
  CUDA_ARCHS ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=[sm_90,compute_90]
  NVCCFLAGS := -O3 -std=c++17 $(CUDA_ARCHS) -I. -Xcompiler -Wall,-Wextra,-Werror,-fPIC \
               -Werror all-warnings -DDB_HAVE_CUDA=1
  CUDA_LIBS := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcusparse -lcudart -lstdc++
  CUDA_DEF := -DDB_HAVE_CUDA=1
else
  CUDA_ON := no
endif
ifneq ($(filter-out $(NODEPS_GOALS),$(or $(MAKECMDGOALS),all)),)
ifndef MAKE_RESTARTS
  $(info deltabench: CUDA $(CUDA_ON)$(if $(NVCC), (nvcc: $(NVCC)),) [variant $(VARIANT)])
endif
endif

# ---- flags ------------------------------------------------------------------------------------
WARN := -Wall -Wextra -Werror -Wshadow -Wvla -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
        -Wno-missing-field-initializers
CFLAGS_ALL := -std=gnu11 $(OPT) $(WARN) -fopenmp -I. $(DEP_CFLAGS) $(CUDA_DEF) \
              -DDB_VERSION='"$(VERSION)"' -MMD -MP $(CFLAGS)
LDLIBS_ALL := $(DEP_LIBS) $(CUDA_LIBS) -fopenmp -lm -lpthread $(SANFLAGS) $(LDFLAGS)

# Quiet rules by default; V=1 prints whole command lines.
ifeq ($(V),1)
  Q :=
  say = @true
else
  Q := @
  say = @printf '  %-6s %s\n' $(1) $(2)
endif

# ---- sources ----------------------------------------------------------------------------------
LIB_SRC := $(filter-out harness/main.c,$(wildcard core/*.c compressors/*.c kernels/*.c kernels/cpu/*.c \
             models/*.c workloads/*.c serve/*.c harness/*.c))
CU_SRC := $(if $(NVCC),$(wildcard kernels/cuda/*.cu))
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o) $(CU_SRC:%.cu=$(B)/%.cu.o)
LIB := $(B)/libdeltabench.a
TEST_SRC := $(wildcard tests/check_*.c)
TESTS := $(TEST_SRC:tests/%.c=$(B)/tests/%)
BENCH_SRC := $(wildcard tests/bench_*.c)
BENCHES := $(BENCH_SRC:tests/%.c=$(B)/tests/%)
GPU_TESTS := $(filter $(B)/tests/check_gpu_%,$(TESTS))

.PHONY: all test test-build test-unit test-cli test-interop test-gpu bench clean help models
all: $(BIN)

# Flag changes rebuild everything (the file changes only when the flags do).
$(B)/flags: FORCE
	@mkdir -p $(B)
	@echo '$(CC) $(CFLAGS_ALL) $(NVCCFLAGS) $(LDLIBS_ALL)' | cmp -s - $@ || \
	 echo '$(CC) $(CFLAGS_ALL) $(NVCCFLAGS) $(LDLIBS_ALL)' > $@
FORCE:

$(B)/%.o: %.c $(B)/flags
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS_ALL) -c $< -o $@

# The commit stamp: git.c is rewritten only when the commit (or -dirty) changes, so an unchanged
# tree recompiles and relinks nothing.
$(B)/git.c: FORCE
	@mkdir -p $(B)
	@echo 'const char *db_git_commit(void) { return "$(GIT_COMMIT)"; }' > $@.new
	@cmp -s $@.new $@ || cp $@.new $@
	@rm -f $@.new

$(B)/git.o: $(B)/git.c $(B)/flags
	@$(CC) -std=gnu11 -Wno-missing-prototypes -c $< -o $@

$(B)/%.cu.o: %.cu $(B)/flags
	@mkdir -p $(dir $@)
	$(call say,NVCC,$<)
	$(Q)$(NVCC) $(NVCCFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(call say,AR,$@)
	$(Q)ar rcs $@ $^

$(BIN): $(B)/harness/main.o $(B)/git.o $(LIB)
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)
	$(Q)$(CC) $(OPT) -o $@ $(B)/harness/main.o $(B)/git.o $(LIB) $(LDLIBS_ALL)

$(B)/tests/%: tests/%.c $(B)/git.o $(LIB) $(B)/flags
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $< $(B)/git.o $(LIB) $(CHECK_LIBS) $(LDLIBS_ALL)

# ---- tests ------------------------------------------------------------------------------------
# HDF5's own leaks on malformed files are suppressed (tests/lsan.supp); ours are not.
export LSAN_OPTIONS ?= suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0

test: $(BIN) $(TESTS)
	@scripts/run-tests.sh "$(B)/tests" "$(BIN)" "$(PYTHON)"

# what `test` runs, built only (.ci/run builds the sanitizer variant while the release suite runs)
test-build: $(BIN) $(TESTS)

test-gpu: $(BIN) $(TESTS)
	@DELTABENCH_REQUIRE_GPU=1 scripts/run-tests.sh --gpu-only "$(B)/tests" "$(BIN)" "$(PYTHON)"

bench: $(BIN) $(BENCHES)
	@for b in $(BENCHES); do echo "== $$b"; $$b || exit 1; done

models: $(BIN)
	@scripts/build-models.sh

.PHONY: nightly
nightly: $(BIN)
	@DELTABENCH=$(BIN) scripts/nightly.sh

# ---- reproduction registry (harness/registry.c): make reproduce-<id>, make reproduce-all -----
# The ids and each entry's prerequisites come from the binary (`reproduce --ids`, `--needs ID`),
# so the registry is the one place that lists them.
.PHONY: reproduce-all
reproduce-%: $(BIN)
	@for t in $$($(BIN) reproduce --needs $*); do $(MAKE) --no-print-directory $$t || exit 1; done
	@$(BIN) reproduce $*
reproduce-all: $(BIN)
	@for id in $$($(BIN) reproduce --ids); do $(MAKE) --no-print-directory reproduce-$$id || exit 1; done

# ---- fuzzing: libFuzzer + ASan + UBSan, clang, its own variant build/fuzz ---------------------
# The library is compiled again by clang with coverage instrumentation (fuzzer-no-link); each
# tests/fuzz/fuzz_<t>.c links with libFuzzer into build/fuzz/fuzz_<t>. tests/fuzz/run.sh runs
# every target FUZZ_S seconds (FUZZ_RUNS executions at most, FUZZ_TARGETS to pick some) and
# prints executions, coverage and crashes per target; a crash fails the goal.
FUZZ_S ?= 60
FUZZ_RUNS ?= -1
FUZZ_TARGETS ?=
FUZZ_CC ?= clang-14
FB := build/fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
# clang 14 knows no "f16c" for __builtin_cpu_supports: the fuzz build takes the scalar paths;
# it compiles without OpenMP (one thread, deterministic; omp_* calls link libomp), and warnings
# (variables only OpenMP clauses use) do not stop it: -Werror belongs to the gcc variants.
FUZZ_CFLAGS := -std=gnu11 -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
               '-D__builtin_cpu_supports(x)=0' \
               $(filter-out -Werror,$(WARN)) -Wno-unknown-pragmas -Wno-pass-failed -Wno-unused-variable -I. $(DEP_CFLAGS) -DDB_VERSION='"$(VERSION)"' -MMD -MP
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FB)/%.o)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRC:tests/fuzz/%.c=$(FB)/%)
.PHONY: fuzz fuzz-build fuzz-deps
fuzz-deps:
	@scripts/install-deps.sh --fuzz
$(FB)/%.o: %.c | fuzz-deps
	@mkdir -p $(dir $@)
	$(call say,CLANG,$<)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@
$(FB)/git.c: FORCE
	@mkdir -p $(FB)
	@echo 'const char *db_git_commit(void) { return "$(GIT_COMMIT)"; }' | cmp -s - $@ || \
	 echo 'const char *db_git_commit(void) { return "$(GIT_COMMIT)"; }' > $@
$(FB)/git.o: $(FB)/git.c | fuzz-deps
	@$(FUZZ_CC) -std=gnu11 -Wno-missing-prototypes -c $< -o $@
$(FB)/libdeltabench.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^
$(FB)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h tests/fuzz/h5check.h tests/fuzz/h5table.h tests/fuzz/h5worker.h $(FB)/libdeltabench.a $(FB)/git.o
	$(call say,LINK,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -DFUZZ_LIBFUZZER -fsanitize=fuzzer -o $@ $< $(FB)/git.o \
	  $(FB)/libdeltabench.a $(DEP_LIBS) -fopenmp -lm -lpthread
fuzz-build: $(FUZZ_BINS)
fuzz: fuzz-build
	@tests/fuzz/run.sh $(FB) $(FUZZ_S) $(FUZZ_RUNS) $(FUZZ_TARGETS)

# ---- coverage: the whole suite on the gcov variant (build/coverage), then one line per module ---
# Test failures do not stop the report (it says how many failed); the kill and 10M-row tests run
# small (their paths are the same at 3 kills and 1e5 rows); scripts/coverage.sh prints line
# and branch coverage of core, kernels, compressors, models, workloads, serve and harness.
.PHONY: coverage
coverage:
	@scripts/install-deps.sh --coverage
	@find build/coverage -name '*.gcda' -delete 2>/dev/null || true
	@CRASH_POINTS=3 BADINPUT_ROWS=100000 $(MAKE) --no-print-directory COVERAGE=1 CUDA=no test || \
	  echo "coverage: some tests failed (above)"
	@scripts/coverage.sh build/coverage

clean:
	rm -rf build bin

help:
	@sed -n '/^# deltabench:/,/^$$/{s/^# \{0,1\}//;p;}' Makefile

-include $(LIB_OBJ:.o=.d) $(B)/harness/main.d $(TESTS:%=%.d) $(FUZZ_LIB_OBJ:.o=.d)
