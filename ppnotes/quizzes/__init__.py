"""One quiz per chapter, named like the chapter's topic: ``questions()`` returns its questions.

Answers are computed by the chapter's module, so a quiz cannot drift from the model; the tests
validate every quiz and recompute its numeric answers.
"""

CHAPTER_QUIZZES = {
    "01_definition": "definition",
    "02_bubble": "bubble",
    "03_communication": "comm",
    "04_memory": "memory",
    "05_unified_model": "perf_model",
    "06_inference": "inference",
    "07_optimum": "optimum",
    "08_case_study": "case_study",
    "09_recommendations": "recommend",
    "10_real_pipeline": "real_pipeline",
    "11_moe": "moe",
}
