#!/usr/bin/env python3
"""Demo task with a manifest (wordcount.json): {"text": "...", "top": 3} → the most frequent words as the result."""
import collections
import re

import hive

a = hive.args()
words = re.findall(r"[\w']+", a["text"].lower())
top = collections.Counter(words).most_common(a.get("top", 3))
print(f"wordcount: {len(words)} words, {len(set(words))} distinct", flush=True)
hive.progress(100, "counted")
hive.result({"words": len(words), "top": [{"word": w, "count": n} for w, n in top]})
