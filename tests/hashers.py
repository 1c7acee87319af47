"""A fast password hasher for tests."""

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class FastPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """Django's default algorithm and format, with few iterations.

    Real hashing costs ~0.6 s a password on the CI machine, and the role tests make
    hundreds. The iteration count is stored in each hash, so a `datatrac` subprocess
    running the production hasher still verifies these passwords for real.
    """

    iterations = 1000
