"""Correct answers written independently of the references in ``gptlab/exercises``.

``chNN.py`` holds ``ALTERNATIVES = {exercise name: [answer, ...]}``: every build exercise has at
least two, written another way (einsum instead of matmul, loops instead of vectorised code,
logsumexp instead of a max shift...), and tests/test_exercises.py checks that each is accepted.
"""
