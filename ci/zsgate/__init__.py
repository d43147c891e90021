# SPDX-License-Identifier: GPL-2.0
"""zsgate pipeline helpers: series input, tree preparation, results and summary."""
