"""Approximate token counts of the wosc25 prompts, to compare with Table 3.

The paper counts tokens with OpenAI's GPT-4o tokenizer, which is not
available offline. Two estimates are printed per prompt:

  words*1.3   whitespace-separated words times 1.3, the usual rule of thumb
              for English prose; it undercounts CSV rows and code, whose
              "words" hold several tokens each
  pieces      the number of pieces a GPT-4-style pre-tokenizer splits the text
              into (letters runs with their leading space, numbers in groups
              of up to three digits, each punctuation run, newlines): common
              words are one token each, so this is close for prose and for
              the CSV excerpts; rare words make the true count a little higher

Run from experiments/: /usr/bin/python3 wosc25/tokens.py
"""
import os
import re
import sys

PIECES = re.compile(r"""'(?:[sdmt]|ll|ve|re)| ?[A-Za-z]+| ?\d{1,3}| ?[^\sA-Za-z\d]+|\s+(?!\S)|\s+""")
TABLE3 = {"healthcare1_long": 3306, "healthcare2_long": 3244, "sales_long": 751, "perfect_long": 382,
          "primes_long": 353, "pagerank_long": 367, "pagerank_short": 352, "pagerank_nolib_short": 261,
          "pagerank_nolib_long": 254, "thumbnail_long": 405, "thumbnail_short": 368,
          "thumbnail_nolib_short": 255, "thumbnail_nolib_long": 236, "mincost_long": 308,
          "collisions_long": 682, "median_long": 452}


def estimates(text):
    return round(len(text.split()) * 1.3), len(PIECES.findall(text))


def main():
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "prompts")
    print("%-24s %8s %10s %8s" % ("prompt", "table 3", "words*1.3", "pieces"))
    for name, want in TABLE3.items():
        with open(os.path.join(here, name + ".md")) as f:
            words, pieces = estimates(f.read())
        print("%-24s %8d %10d %8d" % (name, want, words, pieces))
    with open(os.path.join(here, "system.md")) as f:
        words, pieces = estimates(f.read())
    print("%-24s %8s %10d %8d" % ("system", "-", words, pieces))


if __name__ == "__main__":
    sys.exit(main())
