# io_uring by example: build, demo, test and measure every lesson.
#   make              build every lesson          make NN-name    build one lesson
#   make demo         run each lesson once, narrated
#   make test         the whole test suite (make check is the same)
#   make bench        every lesson's measurements, and bench/REPORT.md
#   make kernels      every lesson on Debian's kernels under qemu (tools/kernel-matrix),
#                     recorded in bench/KERNELS.md and each lesson README
#   make site         the lessons as static pages in build/site/ (tools/site)
#   make clean
#   make SANITIZE=1 test    the same tests on ASan+UBSan builds
# CFLAGS and CC given here reach every lesson's Makefile.

LESSONS := $(sort $(patsubst %/,%,$(dir $(wildcard [0-9][0-9]-*/Makefile))))
TESTS    = $(wildcard $(addsuffix /tests/*.bats,$(LESSONS))) $(wildcard tests/*.bats)
# Show failing tests with their diagnostics, and each skip with its reason.
PROVE_FLAGS ?= --failures --directives --comments

all: $(LESSONS)

$(LESSONS): setup-build
	@$(MAKE) --no-print-directory -C $@

setup-build:
	@tools/setup-deps build
setup-test:
	@tools/setup-deps test
setup-bench:
	@tools/setup-deps bench

tools-for-tests: setup-test
	@$(MAKE) -s -C tests

# Every lesson runs even if one fails; the failures are named at the end.
demo: setup-build
	@failed=""; for l in $(LESSONS); do \
		echo; echo "=== $$l"; \
		$(MAKE) -s --no-print-directory -C $$l all >/dev/null && \
		$(MAKE) -s --no-print-directory -C $$l demo || failed="$$failed $$l"; \
	done; \
	if [ -n "$$failed" ]; then echo; echo "demo failed in:$$failed"; exit 1; fi

test check: tools-for-tests $(LESSONS)
	@prove $(PROVE_FLAGS) --exec 'bats --tap' $(TESTS)

site:
	@tools/setup-deps site
	@tools/site

bench: setup-bench $(LESSONS)
	@tools/bench-report $(LESSONS)

kernels: setup-build
	@tools/kernel-matrix --record

clean:
	@for l in $(LESSONS) tests; do $(MAKE) -s -C $$l clean; done
	rm -rf bench/build build/site build/site-shots

.PHONY: all demo test check bench kernels site clean setup-build setup-test setup-bench tools-for-tests $(LESSONS)
