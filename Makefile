# Build the book and run the tests in a virtual environment made from requirements.lock.
#
#   make venv    create .venv from requirements.lock; reinstall only when the lock or
#                pyproject.toml is newer than the stamp file
#   make book    execute the figure notebooks and build the book into book/_build/html
#   make test    run every test, including the slow ones that execute the figure
#                notebooks and build the book
#   make clean   remove the book build, the executed figure notebooks and the figure
#                cache records (not .venv, not the CSV and PNG files in data/results)
#
# Set PYTHON to choose the interpreter that creates .venv, e.g. make PYTHON=python3.12 test.
# Without it, the first new-enough interpreter of PYTHON_CANDIDATES is used.

PYTHON ?=
PYTHON_CANDIDATES := python3 python3.13 python3.12 python3.11 $(HOME)/.pyenv/shims/python3
# The oldest Python that every package pinned in requirements.lock accepts
# (soupsieve 4.1.4 requires >= 3.11.5); tests/test_environment.py checks it.
PYTHON_MIN := 3.11.5

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-from-lock

# Commands run with the venv's binaries first on PATH and a backend that opens no window.
RUN := env PATH="$(CURDIR)/$(BIN):$$PATH" MPLBACKEND=Agg

.PHONY: venv book test clean

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@new_enough='import sys; minimum = tuple(int(part) for part in "$(PYTHON_MIN)".split(".")); sys.exit(sys.version_info[:3] < minimum)'; \
	if test -x $(BIN)/python; then python=$(BIN)/python; \
	elif test -n "$(PYTHON)"; then python="$(PYTHON)"; \
	else \
		python=python3; \
		for candidate in $(PYTHON_CANDIDATES); do \
			if command -v "$$candidate" >/dev/null 2>&1 && "$$candidate" -c "$$new_enough" 2>/dev/null; then python="$$candidate"; break; fi; \
		done; \
	fi; \
	if ! command -v "$$python" >/dev/null 2>&1; then \
		echo "error: Python interpreter '$$python' not found." >&2; \
		echo "Set PYTHON to an installed interpreter, e.g. 'make PYTHON=python3.12 $(or $(MAKECMDGOALS),venv)' or PYTHON=/path/to/python3." >&2; \
		exit 1; \
	fi; \
	if ! "$$python" -c "$$new_enough" 2>/dev/null; then \
		echo "error: requirements.lock needs Python >= $(PYTHON_MIN), but '$$python' is $$("$$python" --version 2>&1)." >&2; \
		echo "Install a newer Python and run 'make PYTHON=/path/to/python3.11 $(or $(MAKECMDGOALS),venv)' (remove $(VENV) first if it was made with the old one)." >&2; \
		exit 1; \
	fi; \
	if ! test -x $(BIN)/python; then echo "creating $(VENV) with $$python"; "$$python" -m venv $(VENV) || exit 1; fi
	$(BIN)/python -m pip install --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --disable-pip-version-check --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3
	touch $@

book: $(STAMP)
	$(RUN) $(BIN)/jupyter-book build book/ -W -n --keep-going

test: $(STAMP)
	$(RUN) $(BIN)/python -m pytest

clean:
	rm -rf book/_build book/figures data/results/.cache
