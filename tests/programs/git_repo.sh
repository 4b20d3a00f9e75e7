#!/bin/bash
# git on a temporary repository: init, add 200 files, commit, change and
# commit again, log, diff, blame, gc, fsck and archive, with author, dates and
# configuration fixed so that both runs produce the same object ids.
# Usage: git_repo.sh LIBHAKMEM
. "$(dirname "$0")/lib.sh"
programs_init "$1"
require_tool git
require_tool awk
require_tool sha256sum

export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME="Test Author" GIT_AUTHOR_EMAIL="author@example.com"
export GIT_COMMITTER_NAME="Test Committer" GIT_COMMITTER_EMAIL="committer@example.com"
export GIT_AUTHOR_DATE="2021-06-01T12:00:00Z" GIT_COMMITTER_DATE="2021-06-01T12:00:00Z"

# make_files FIRST LAST SALT: files f/dirN/fileM.txt with deterministic lines
# (Park-Miller's generator: x * 16807 stays exact in awk's doubles).
make_files() {
  awk -v first="$1" -v last="$2" -v salt="$3" 'BEGIN {
    x = 12345 + salt
    for (i = first; i <= last; i++) {
      path = sprintf("f/dir%d/file%03d.txt", i % 10, i)
      lines = 5 + (i * 37 + salt) % 300
      for (j = 0; j < lines; j++) {
        x = (x * 16807) % 2147483647
        printf "line %d of file %d: %d %s\n", j, i, x, substr("abcdefghijklmnopqrstuvwxyz", 1 + x % 26) > path
      }
      close(path)
    }
  }'
}

scenario() {
  export HOME=$PWD/home
  mkdir -p home repo
  cd repo || return 1
  step git init -q -b main .
  step git config core.autocrlf false
  mkdir -p f/dir0 f/dir1 f/dir2 f/dir3 f/dir4 f/dir5 f/dir6 f/dir7 f/dir8 f/dir9
  make_files 1 200 0
  step git add .
  step git commit -q -m "200 files"
  # Second commit: 40 files rewritten, 10 removed, 10 added.
  make_files 1 40 7
  step git rm -q f/dir1/file041.txt f/dir2/file042.txt f/dir3/file043.txt f/dir4/file044.txt \
    f/dir5/file045.txt f/dir6/file046.txt f/dir7/file047.txt f/dir8/file048.txt f/dir9/file049.txt \
    f/dir0/file050.txt
  make_files 201 210 3
  step git add -A
  export GIT_AUTHOR_DATE="2021-06-02T12:00:00Z" GIT_COMMITTER_DATE="2021-06-02T12:00:00Z"
  step git commit -q -m "change 40, remove 10, add 10"
  echo "== log"
  step git log --stat --format='%H %an <%ae> %ad%n%s' --date=iso-strict
  echo "== diff"
  step git diff --stat HEAD~1 HEAD
  git diff HEAD~1 HEAD | sha256sum
  step git diff --numstat HEAD~1 HEAD
  echo "== blame"
  git blame --porcelain HEAD -- f/dir5/file015.txt | sha256sum
  echo "== grep"
  step git grep -c 'line 3 of' HEAD -- f/dir3
  echo "== gc"
  step git gc -q
  step git fsck --full --strict --no-progress
  git cat-file --batch-all-objects --batch-check='%(objectname) %(objecttype) %(objectsize)' | sha256sum
  git count-objects -v | grep -E '^(count|in-pack|packs):'
  echo "== after gc"
  step git log --format='%H %T %P' --all
  git archive --format=tar HEAD | sha256sum
  step git status --porcelain
}
compare_runs git scenario
