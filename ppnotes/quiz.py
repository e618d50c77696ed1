"""Builders for jupyterquiz questions whose answers are computed, not typed.

A chapter computes the right answer with ``ppnotes``, builds a question here, and shows the
quiz with :func:`show`. Every question is validated before it is shown, and tests call the same
builders, so a quiz can never drift from the model. Feedback should teach: say why an answer is
wrong, not only that it is.

The dictionaries follow jupyterquiz's JSON format (types ``multiple_choice``, ``many_choice``
and ``numeric``).

How answers are read (issue 9):

- A whole-number answer (a count: stages, GPUs, micro-batches) is accepted exactly; 512 does not
  accept 502.
- A percentage question (its text says "in percent", "percentage" or "in %") accepts the value
  in percent (``17.9``), with a percent sign (``17.9%``: the page strips it before judging)
  and as a fraction (``0.179``); the question says so next to the input.
- Question text, answers and feedback may use inline Markdown (``*em*``, ``**strong**``,
  ```code```) and ``$...$`` math; :func:`show` turns the Markdown into HTML, jupyterquiz and
  MathJax typeset the math.
- After ``reveal_after`` wrong tries a "Show the answer" button appears under the question.

What a reader can type on the page (issue 22, :data:`QUIZ_JS`): every numeric question has a
Check button beside its input (Enter still works) and asks phones for a decimal keypad. The
page reads what was typed before jupyterquiz judges it: a decimal comma (``17,9`` is 17.9),
thousands separators (``1,024`` is 1024), spaces, a percent sign and ``a/b`` fractions. Under
the input it says how it read anything that was not a plain number ("Read as 17.9"), and
anything it cannot read gets a message instead of a verdict, so no answer is changed silently.

Chinese readers (issue 23): every question stem, answer and piece of feedback that is prose is
written in both languages with :func:`en_zh`, which puts the Chinese on its own line under the
English (``<span class="ppq-zh" lang="zh-Hans">``); :func:`chinese_part` reads it back for tests.
The page's own words (Check, Show the answer, the percent hint) are bilingual too.

A percentage question may also accept its answer rounded to a whole percent
(``whole_percent=True``): worth it where a reader who computed the right value would round it,
and where no common wrong answer rounds to the same whole number.
"""

from __future__ import annotations

import html
import json
import math
import numbers
import re

from ._validate import WrongTypeError, check_bool, check_int, check_real

QUESTION_TYPES = ("multiple_choice", "many_choice", "numeric")

# A question asks for a percentage when its text says so.
PERCENT_WORDS = re.compile(r"\bin percent\b|\bpercentage\b|\bin %|\(%\)", re.IGNORECASE)
# Shown under a percentage question (an example, never the answer).
PERCENT_HINT = "Answer in percent: 12.5, 12.5 % and the fraction 0.125 are all read as 12.5 %."
PERCENT_HINT_ZH = "用百分数作答：12.5、12.5 % 和小数 0.125 都读作 12.5 %。"
# Half-width of the range that accepts a whole number "exactly" (jupyterquiz compares ranges).
EXACT = 1e-6


def _text(name: str, value) -> str:
    """``value`` if it is a non-empty string (question text, an answer, feedback)."""
    if not isinstance(value, str):
        raise WrongTypeError(f"{name} must be a non-empty string, got {value!r}")
    if not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


_CJK = re.compile(r"[\u4e00-\u9fff]")
_ZH_SPAN = re.compile(r'<span class="ppq-zh" lang="zh-Hans">(.*?)</span>', re.DOTALL)


def en_zh(en: str, zh: str) -> str:
    """One piece of quiz text in English with its Chinese on the line below.

    Args:
        en: the English text (inline Markdown and ``$...$`` math allowed).
        zh: the same in Chinese, written to ``docs/zh_style.md``; must contain Chinese.
    """
    en, zh = _text("en", en), _text("zh", zh)
    if not _CJK.search(zh):
        raise ValueError(f"zh must contain Chinese text, got {zh!r}")
    if "ppq-zh" in en or "ppq-zh" in zh:
        raise ValueError(f"en_zh texts must not nest, got {en!r} and {zh!r}")
    return f'{en}<span class="ppq-zh" lang="zh-Hans">{zh}</span>'


def chinese_part(text: str) -> str:
    """The Chinese written with :func:`en_zh` in ``text`` ('' if there is none)."""
    if not isinstance(text, str):
        raise WrongTypeError(f"text must be a string, got {text!r}")
    return " ".join(_ZH_SPAN.findall(text))


def _answers(answers) -> list[dict]:
    """A list (or tuple) of answers built by :func:`choice`."""
    if not isinstance(answers, (list, tuple)) or not all(isinstance(a, dict) for a in answers):
        raise WrongTypeError(
            f"answers must be a list of answers built by quiz.choice, got {answers!r}"
        )
    return list(answers)


def _question(question, name: str = "question") -> dict:
    """``question`` if it is a well-formed question dict (see :func:`validate_question`)."""
    if not isinstance(question, dict):
        raise WrongTypeError(
            f"{name} must be a question dict built by ppnotes.quiz, got {question!r}"
        )
    validate_question(question)
    return question


def choice(text: str, correct: bool, feedback: str) -> dict:
    """One answer of a multiple- or many-choice question."""
    return {
        "answer": _text("text", text),
        "correct": check_bool("correct", correct),
        "feedback": _text("feedback", feedback),
    }


def multiple_choice(question: str, answers: list[dict]) -> dict:
    """A question with exactly one correct answer among ``answers`` (built by :func:`choice`)."""
    q = {"question": _text("question", question), "type": "multiple_choice"}
    q["answers"] = _answers(answers)
    validate_question(q)
    return q


def many_choice(question: str, answers: list[dict]) -> dict:
    """A question where a reader must pick every correct answer (one or more)."""
    q = {"question": _text("question", question), "type": "many_choice"}
    q["answers"] = _answers(answers)
    validate_question(q)
    return q


def numeric(
    question: str,
    answer: float,
    *,
    rel_tol: float | None = None,
    abs_tol: float = 0.0,
    correct_feedback: str,
    wrong_feedback: str,
    traps: list[tuple[float, str]] | None = None,
    integer: bool | None = None,
    percent: bool | None = None,
    whole_percent: bool = False,
) -> dict:
    """A question answered with a number, accepted within a tolerance.

    Args:
        answer: the value computed by ``ppnotes``.
        rel_tol: accepted relative error (0.02 = 2 %); default (None) 0.02.
        abs_tol: accepted absolute error, for answers near zero.
        traps: common wrong answers ``(value, feedback)``: a reader who types one gets the
            feedback that explains the mistake (each trap is matched within the same tolerance).
        integer: accept only the exact whole number (and match traps exactly). Default (None):
            True when ``answer`` is a whole number and either ``abs_tol`` is 0.5 (the way a
            count was asked for before) or no tolerance was given.
        percent: the answer is a percentage; also accept it as a fraction (``answer / 100``)
            and say so under the question. Default (None): True when the question's text says
            "in percent", "percentage" or "in %".
        whole_percent: a percentage question that also accepts the answer rounded to a whole
            percent (9.86 % typed as 10). Refused when that whole number is one of the traps'
            values, or when it is 0 (no rounding of a small share is an answer).
    """
    question = _text("question", question)
    answer = check_real("answer", answer, minimum=None)
    abs_tol = check_real("abs_tol", abs_tol)
    correct_feedback = _text("correct_feedback", correct_feedback)
    wrong_feedback = _text("wrong_feedback", wrong_feedback)
    if integer is not None:
        check_bool("integer", integer)
    if percent is not None:
        check_bool("percent", percent)
    traps = _traps(traps)
    if integer is None:
        integer = _is_whole(answer) and (abs_tol == 0.5 or (rel_tol is None and abs_tol == 0))
    rel_tol = check_real("rel_tol", 0.02 if rel_tol is None else rel_tol)
    if percent is None:
        percent = bool(PERCENT_WORDS.search(question))
    if integer and not _is_whole(answer):
        raise ValueError(f"integer=True needs a whole-number answer, got {answer!r}")

    def ranged(value: float, correct: bool, feedback: str) -> dict:
        if integer and _is_whole(value):
            return _range_answer(float(round(value)), 0.0, EXACT, correct, feedback)
        return _range_answer(value, rel_tol, abs_tol, correct, feedback)

    check_bool("whole_percent", whole_percent)
    answers = [ranged(answer, True, correct_feedback)]
    if percent:
        fraction = {**ranged(answer, True, correct_feedback)}
        fraction["range"] = [x / 100 for x in fraction["range"]]
        answers.append(fraction)
    if whole_percent:
        answers += _whole_percent(question, answer, percent, traps, ranged, correct_feedback)
    for value, feedback in traps or []:
        answers.append(ranged(float(value), False, feedback))
        if percent:
            trap = {**answers[-1]}
            trap["range"] = [x / 100 for x in trap["range"]]
            answers.append(trap)
    answers.append({"type": "default", "feedback": wrong_feedback})
    if percent:
        question = f"{question}\n{_hint(PERCENT_HINT, PERCENT_HINT_ZH)}"
    q = {"question": question, "type": "numeric", "answers": answers}
    validate_question(q)
    return q


def _whole_percent(question, answer, percent, traps, ranged, feedback) -> list[dict]:
    """The correct answers for ``answer`` rounded to a whole percent, in percent and as a
    fraction; a clear error where that rounding would be wrong or ambiguous."""
    if not percent:
        raise ValueError(f"whole_percent=True needs a percentage question, got {question[:40]!r}")
    whole = float(round(answer))
    if whole == 0:
        raise ValueError(f"whole_percent=True: {answer!r} % rounds to 0, which is no answer")
    for value, _ in traps:
        trap = ranged(value, False, "trap")
        if trap["range"][0] <= whole < trap["range"][1] or round(value) == whole:
            raise ValueError(
                f"whole_percent=True: {answer:g} % and the trap {value:g} % both round to "
                f"{whole:g} %; ask for one decimal instead"
            )
    rounded = _range_answer(whole, 0.0, EXACT, True, feedback)
    fraction = _range_answer(whole / 100, 0.0, EXACT / 100, True, feedback)
    return [rounded, fraction]


def _traps(traps) -> list[tuple[float, str]]:
    """``traps`` as a list of (value, feedback) pairs (None or empty: no traps)."""
    if traps is None:
        return []
    if not isinstance(traps, (list, tuple)):
        raise WrongTypeError(f"traps must be a list of (value, feedback) pairs, got {traps!r}")
    out = []
    for i, trap in enumerate(traps):
        if not isinstance(trap, (list, tuple)) or len(trap) != 2:
            raise WrongTypeError(f"traps[{i}] must be a (value, feedback) pair, got {trap!r}")
        value = check_real(f"traps[{i}] value", trap[0], minimum=None)
        out.append((value, _text(f"traps[{i}] feedback", trap[1])))
    return out


def _is_whole(x: float) -> bool:
    return math.isfinite(x) and abs(x - round(x)) < 1e-9


def _hint(text: str, zh: str) -> str:
    zh = f'<span lang="zh-Hans">{html.escape(zh)}</span>'
    return f'<span class="ppq-form">{html.escape(text)} {zh}</span>'


def _range_answer(value: float, rel_tol: float, abs_tol: float, correct: bool, fb: str) -> dict:
    half = max(abs(value) * rel_tol, abs_tol)
    if half == 0:
        raise ValueError("rel_tol or abs_tol must give a tolerance > 0 around the answer")
    return {
        "type": "range",
        "range": [float(value - half), float(value + half)],
        "correct": correct,
        "feedback": fb,
    }


def numeric_answer(question: dict) -> float:
    """The centre of the accepted range of a numeric question (its computed answer)."""
    _numeric(question)
    lo, hi = next(a["range"] for a in question["answers"] if a.get("correct"))
    return (lo + hi) / 2


def accepts(question: dict, value: float) -> bool:
    """Whether a numeric question marks ``value`` correct (the first matching range decides)."""
    _numeric(question)
    if not isinstance(value, numbers.Real):
        raise WrongTypeError(f"value must be a number (the reader's answer), got {value!r}")
    for a in question["answers"]:
        if "range" in a and a["range"][0] <= value < a["range"][1]:
            return bool(a["correct"])
    return False


def _numeric(question) -> dict:
    """``question`` if it is a well-formed numeric question."""
    if _question(question)["type"] != "numeric":
        raise ValueError(f"question must be a numeric question, got type {question['type']!r}")
    return question


def validate_question(q: dict) -> None:
    """Raise ``ValueError`` if ``q`` is not a well-formed question that jupyterquiz can show."""
    if not isinstance(q, dict):
        raise WrongTypeError(f"question must be a question dict built by ppnotes.quiz, got {q!r}")
    text = q.get("question")
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"question text must be a non-empty string, got {text!r}")
    kind = q.get("type")
    if kind not in QUESTION_TYPES:
        raise ValueError(f"question type must be one of {QUESTION_TYPES}, got {kind!r}")
    answers = q.get("answers")
    if not isinstance(answers, list) or not answers:
        raise ValueError(f"question {text[:40]!r}: answers must be a non-empty list")
    if kind == "numeric":
        _validate_numeric(text, answers)
    else:
        _validate_choices(text, kind, answers)


def _validate_choices(text: str, kind: str, answers: list) -> None:
    if len(answers) < 2:
        raise ValueError(f"question {text[:40]!r}: a choice question needs >= 2 answers")
    if not all(isinstance(a, dict) for a in answers):
        raise WrongTypeError(f"question {text[:40]!r}: answers must be dicts built by quiz.choice")
    labels = [a.get("answer") for a in answers]
    if any(not isinstance(a, str) or not a for a in labels) or len(set(labels)) != len(labels):
        raise ValueError(f"question {text[:40]!r}: answers must be distinct non-empty strings")
    if any(not a.get("feedback") for a in answers):
        raise ValueError(f"question {text[:40]!r}: every answer needs feedback that teaches")
    n_correct = sum(bool(a.get("correct")) for a in answers)
    if kind == "multiple_choice" and n_correct != 1:
        raise ValueError(f"question {text[:40]!r}: multiple_choice needs exactly 1 correct answer")
    if kind == "many_choice" and n_correct < 1:
        raise ValueError(f"question {text[:40]!r}: many_choice needs >= 1 correct answer")


def _validate_numeric(text: str, answers: list) -> None:
    if not all(isinstance(a, dict) for a in answers):
        raise WrongTypeError(f"question {text[:40]!r}: answers must be dicts")
    ranges = [a for a in answers if "range" in a]
    if not any(a.get("correct") for a in ranges):
        raise ValueError(f"question {text[:40]!r}: a numeric question needs a correct range")
    for a in ranges:
        if not isinstance(a["range"], (list, tuple)) or len(a["range"]) != 2:
            raise ValueError(f"question {text[:40]!r}: bad range {a['range']!r}")
        lo, hi = a["range"]
        ok = all(isinstance(x, numbers.Real) and math.isfinite(x) for x in (lo, hi))
        if not ok or not lo < hi:
            raise ValueError(f"question {text[:40]!r}: bad range {a['range']!r}")
    if not any(a.get("type") == "default" and a.get("feedback") for a in answers):
        raise ValueError(f"question {text[:40]!r}: a numeric question needs default feedback")


def validate(questions: list[dict]) -> list[dict]:
    """Validate a whole quiz and return it."""
    if not isinstance(questions, (list, tuple)):
        raise WrongTypeError(f"questions must be a list of question dicts, got {questions!r}")
    if not questions:
        raise ValueError("a quiz needs at least one question")
    for q in questions:
        validate_question(q)
    return questions


def answer_text(question: dict) -> str:
    """What "Show the answer" reveals: the computed answer (numeric) or the correct choices."""
    _question(question)
    if question["type"] == "numeric":
        value = numeric_answer(question)
        shown = f"{value:,.0f}" if _is_whole(value) else f"{value:.3g}"
        unit = " %" if "ppq-form" in question["question"] else ""
        fb = next(a["feedback"] for a in question["answers"] if a.get("correct"))
        return f"**{shown}{unit}**. {fb}"
    right = [a for a in question["answers"] if a.get("correct")]
    return " ".join(f"**{a['answer']}**: {a['feedback']}" for a in right)


# Inline Markdown outside $...$ math: **strong**, *em*, `code`.
_MATH = re.compile(r"(\$\$.+?\$\$|\$[^$]+\$)", re.DOTALL)
_STRONG = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
# Chinese has no spaces around emphasis: only ASCII letters and digits block it.
_EM = re.compile(r"(?<![A-Za-z0-9_*])\*(?=[^\s*])([^*]+?)(?<=\S)\*(?![A-Za-z0-9_*])")
_CODE = re.compile(r"`([^`]+)`")


def markdown_inline(text: str) -> str:
    """Turn a question's inline Markdown into HTML, leaving ``$...$`` math for MathJax."""
    if not isinstance(text, str):
        raise WrongTypeError(f"text must be a string of inline Markdown, got {text!r}")
    parts = _MATH.split(text)
    for i in range(0, len(parts), 2):
        part = _CODE.sub(r"<code>\1</code>", parts[i])
        part = _STRONG.sub(r"<strong>\1</strong>", part)
        parts[i] = _EM.sub(r"<em>\1</em>", part)
    return "".join(parts)


def for_display(question: dict, *, reveal: bool = True) -> dict:
    """A copy of ``question`` with its Markdown turned into HTML and the answer to reveal."""
    _question(question)
    check_bool("reveal", reveal)
    q = json.loads(json.dumps(question))
    text = q["question"]
    if reveal:
        shown = answer_text(question)
        label = 'The answer<span lang="zh-Hans">（答案）</span>'
        text += f'\n<div class="ppq-answer" hidden>{label}: {shown}</div>'
    q["question"] = markdown_inline(text)
    for a in q["answers"]:
        for key in ("answer", "feedback"):
            if key in a:
                a[key] = markdown_inline(a[key])
    return q


# The page's side of every quiz, installed once per page (on the static site and in
# JupyterLab). Event delegation on the document:
# - numeric inputs: a Check button, a decimal keypad on phones, and the reader's text read
#   before jupyterquiz judges it (decimal comma, thousands separators, spaces, "%", "a/b"),
#   saying how it was read, or refusing with a message (issue 22). jupyterquiz's own key filter
#   (which dropped "," so that "17,9" became 179, and blocked paste) never sees the keys;
# - after `ppnotesRevealAfter` wrong tries on a question, a "Show the answer" button.
QUIZ_JS = r"""
window.ppnotesRevealAfter = REVEAL_AFTER;
(function () {
  if (window.ppnotesQuiz) { window.ppnotesQuiz.enhance(document); return; }
  var NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;
  var THOUSANDS = /^[-+]?[1-9]\d{0,2}(,\d{3})+(\.\d+)?$/;
  var ONE_COMMA = /^[^,.]*,[^,.]*$/;
  var REFUSED = "Not read as a number: type digits, with a point or a comma for decimals " +
    "(17.9 or 17,9).";

  // What the reader typed, as a number ({value}) or a reason it is not one ({error}).
  function parse(text) {
    var s = String(text).replace(/[\s\u00a0\u202f]/g, "").replace(/\u2212/g, "-");
    s = s.replace(/%$/, "");
    if (!s) return { error: "Type a number first." };
    if (THOUSANDS.test(s)) s = s.replace(/,/g, "");
    else if (ONE_COMMA.test(s)) s = s.replace(",", ".");
    var parts = s.split("/");
    if (parts.length === 2 && NUMBER.test(parts[0]) && NUMBER.test(parts[1])) {
      var den = Number(parts[1]);
      if (den === 0) return { error: "A fraction needs a denominator other than 0." };
      return { value: Number(parts[0]) / den };
    }
    if (!NUMBER.test(s)) return { error: REFUSED };
    return { value: Number(s) };
  }

  function isNumeric(el) {
    return !!(el && el.matches && el.matches(".Quiz input.Input-text[data-answers]"));
  }

  function noteFor(input) {
    var note = input.parentElement.querySelector(".ppq-read");
    if (!note) {
      note = document.createElement("div");
      note.className = "ppq-read";
      note.setAttribute("role", "status");
      note.hidden = true;
      input.parentElement.appendChild(note);
    }
    return note;
  }

  // Read the input, then let jupyterquiz judge the number read (its Enter handler).
  function check(input) {
    var quiz = input.closest(".Quiz");
    var note = noteFor(input);
    var typed = input.value;
    var read = parse(typed);
    var fb = quiz.querySelector(".Feedback");
    if (read.error) {
      note.textContent = read.error;
      note.classList.add("ppq-refused");
      note.hidden = false;
      if (fb) { fb.style.display = "none"; fb.className = "Feedback"; }
      input.className = "Input-text";
      return;
    }
    var shown = String(Number(read.value.toPrecision(12)));
    note.classList.remove("ppq-refused");
    note.textContent = "Read as " + shown;
    note.hidden = typed.replace(/[\s\u00a0\u202f%]/g, "") === shown;
    input.value = shown;
    input.onkeypress.call(input, { which: 13, keyCode: 13, preventDefault: function () {} });
    input.value = typed;
    judged(quiz);
  }

  function enhance(root) {
    root.querySelectorAll(".Quiz input.Input-text[data-answers]").forEach(function (input) {
      if (input.dataset.ppq) return;
      input.dataset.ppq = "1";
      input.setAttribute("inputmode", "decimal");
      input.setAttribute("enterkeyhint", "done");
      input.setAttribute("autocomplete", "off");
      var label = input.parentElement.querySelector("label.InpLabel");
      if (label) {
        label.htmlFor = input.id;
        label.innerHTML = 'Your answer<span lang="zh-Hans">（你的答案）</span>:';
      }
      var button = document.createElement("button");
      button.type = "button";
      button.className = "ppq-check";
      button.innerHTML = 'Check<span lang="zh-Hans">（检查）</span>';
      button.addEventListener("click", function () { check(input); });
      input.after(button);
    });
  }

  function judged(quiz) {
    var fb = quiz.querySelector(".Feedback");
    if (!fb || !fb.classList.contains("incorrect")) return;
    var tries = Number(quiz.dataset.ppqWrong || 0) + 1;
    quiz.dataset.ppqWrong = tries;
    var after = window.ppnotesRevealAfter;
    var hidden = quiz.querySelector(".ppq-answer");
    if (!after || tries < after || !hidden || quiz.querySelector(".ppq-show")) return;
    var button = document.createElement("button");
    button.type = "button";
    button.className = "ppq-show";
    button.innerHTML = 'Show the answer<span lang="zh-Hans">（显示答案）</span>';
    button.addEventListener("click", function () {
      var shown = hidden.cloneNode(true);
      shown.hidden = false;
      shown.classList.add("ppq-shown");
      button.replaceWith(shown);
      if (window.MathJax && MathJax.typesetPromise) MathJax.typesetPromise([shown]);
    });
    fb.after(button);
  }

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || !isNumeric(event.target)) return;
    event.preventDefault();
    event.stopPropagation();
    check(event.target);
  }, true);
  ["keypress", "paste"].forEach(function (type) {
    document.addEventListener(type, function (event) {
      if (isNumeric(event.target)) event.stopPropagation();
    }, true);
  });
  document.addEventListener("click", function (event) {
    if (!event.target.closest(".MCButton")) return;
    var quiz = event.target.closest(".Quiz");
    if (quiz) setTimeout(function () { judged(quiz); }, 0);
  });
  window.ppnotesQuiz = { enhance: enhance, parse: parse, check: check };
  enhance(document);
})();
"""

QUIZ_CSS = """<style>
.ppq-zh { display: block; margin-top: 0.2em; }
.ppq-form { display: block; font-size: 0.85em; opacity: 0.9; margin-top: 0.3em; }
.ppq-show { margin: 0.4em 0 0.2em; padding: 0.2em 0.8em; border-radius: 6px; cursor: pointer;
  border: 1px solid currentColor; background: transparent; color: inherit; font: inherit; }
.ppq-shown { margin-top: 0.4em; }
.Quiz .Answer { display: flex !important; flex-wrap: wrap; align-items: center; gap: 0.4em; }
.Quiz .Answer .InpLabel { flex-basis: 100%; }
.Quiz .Answer input.Input-text { flex: 1 1 8em; min-width: 0; max-width: 14em; min-height: 44px;
  font-size: 16px; box-sizing: border-box; }
.Quiz .Answer input.Input-text:not(.correctButton):not(.incorrectButton) { color: #101010; }
.ppq-check { min-height: 44px; min-width: 5em; padding: 0.3em 1em; border-radius: 6px;
  cursor: pointer; border: 1px solid currentColor; background: rgba(255, 255, 255, 0.15);
  color: inherit; font: inherit; font-weight: 600; }
.ppq-read { flex-basis: 100%; font-size: 0.85em; }
.ppq-read.ppq-refused { font-weight: 600; color: var(--pst-color-danger, #b00020); }
.Quiz code { color: inherit; background: rgba(255, 255, 255, 0.15); }
</style>"""


def show(questions: list[dict], *, reveal_after: int = 2) -> None:
    """Validate and display a quiz with jupyterquiz (works in Jupyter and on the website).

    Args:
        questions: built by this module's functions.
        reveal_after: wrong tries after which "Show the answer" is offered (0: never).
    """
    import random
    import string

    from IPython.display import HTML, Javascript, display
    from jupyterquiz.dynamic import loader, renderer

    reveal_after = check_int("reveal_after", reveal_after, 0)
    shown = [for_display(q, reveal=reveal_after > 0) for q in validate(questions)]
    # What jupyterquiz's display_quiz does, with its script started only once MathJax has
    # loaded: the site defers MathJax, and jupyterquiz reads MathJax.version[0] 500 ms after
    # rendering, which throws while only MathJax's configuration object exists.
    div_id = "".join(random.choice(string.ascii_letters) for _ in range(12))
    prefix, static, url = loader.load_questions_script(shown, div_id)
    box = renderer.render_div(div_id, False, False, False, 1_000_000, 760, 10, "left")
    styles = renderer.build_styles(div_id, QUIZ_COLORS)
    script = renderer.build_script(prefix, static, url, div_id, True)
    display(HTML(QUIZ_CSS + box + styles))
    display(Javascript(WHEN_MATHJAX_READY.replace("QUIZ_SCRIPT", script)))
    display(Javascript(QUIZ_JS.replace("REVEAL_AFTER", str(int(reveal_after)))))


# jupyterquiz's default colours (display_quiz's colour dictionary).
QUIZ_COLORS = {
    "--jq-multiple-choice-bg": "#392061",
    "--jq-mc-button-bg": "#fafafa",
    "--jq-mc-button-border": "#e0e0e0e0",
    "--jq-mc-button-inset-shadow": "#555555",
    "--jq-many-choice-bg": "#f75c03ff",
    "--jq-numeric-bg": "#392061ff",
    "--jq-numeric-input-bg": "#c0c0c0",
    "--jq-numeric-input-label": "#101010",
    "--jq-numeric-input-shadow": "#999999",
    "--jq-string-bg": "#4c1a57",
    "--jq-incorrect-color": "#c80202",
    "--jq-correct-color": "#009113",
    "--jq-text-color": "#fafafa",
    "--jq-link-color": "#9abafa",
}

# Run a quiz's script when MathJax is absent (JupyterLab) or loaded (the site), not while only
# its configuration object exists; give up waiting after 10 s.
WHEN_MATHJAX_READY = """
(function start(tries) {
  if (typeof MathJax === "undefined" || MathJax.version || tries > 100) {
    (function () {
QUIZ_SCRIPT
    })();
    if (window.ppnotesQuiz) window.ppnotesQuiz.enhance(document);
  } else {
    setTimeout(function () { start(tries + 1); }, 100);
  }
})(0);
"""
