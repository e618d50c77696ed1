# Two commands for a new reader: `make book` builds the website, `make test` checks everything.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000

.PHONY: book busy-book test serve lab clean lint bench

# The virtual environment, with every pinned requirement and ppnotes installed editable.
$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# MathJax, require.js and the widget manager, fetched from the npm registry (see tools/).
_vendor/.complete: tools/fetch_vendor.py | $(VENV)/.installed
	$(BIN)/python tools/fetch_vendor.py _vendor

# Execute every notebook and build the site from an empty _build; any warning is an error.
book: $(VENV)/.installed _vendor/.complete
	rm -rf _build
	$(BIN)/jupyter-book build . -W -n --keep-going
	@echo
	@echo "Book built. Open _build/html/index.html, or run 'make serve' and visit http://127.0.0.1:$(PORT)/"

# The same build while a busy loop occupies every core (CI runs it; a reader's laptop is busy).
busy-book: $(VENV)/.installed _vendor/.complete
	$(BIN)/python tools/busy_cores.py -- $(MAKE) book

# The whole suite: lint, unit and structure tests, every notebook (nbval), the site in Chromium.
test: book
	$(BIN)/ruff check ppnotes tests tools
	$(BIN)/ruff format --check ppnotes tests tools
	$(BIN)/python -m pytest -q

serve:
	@test -f _build/html/index.html || { echo "No site yet: run 'make book' first."; exit 1; }
	$(BIN)/python -m http.server $(PORT) --bind 127.0.0.1 --directory _build/html

lab: $(VENV)/.installed
	$(BIN)/jupyter lab book/

bench: $(VENV)/.installed
	$(BIN)/python -m ppnotes.bench

clean:
	rm -rf _build _vendor
