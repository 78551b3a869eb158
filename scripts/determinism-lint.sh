#!/usr/bin/env bash
# scripts/determinism-lint.sh
# The determinism guard for sim/, models/ and scenarios/ (style.md, examples 1, 3, 10, 11).
#
# Usage: scripts/determinism-lint.sh [ROOT]
#   ROOT defaults to the repository root (the parent of this script's directory). Scans the
#   *.h, *.hpp, *.cpp and *.cc files under ROOT/sim, ROOT/models and ROOT/scenarios; a
#   missing directory is skipped, but if all three are missing ROOT is taken to be wrong.
#
# Output: one `file:line: <rule>: <the line>` per flagged (line, rule) on stderr, with the
#   file relative to ROOT, then a one-line summary.
# Exit:   0 nothing flagged ("determinism-lint: N files clean" on stdout),
#         1 something flagged ("determinism-lint: K violation(s)" on stderr),
#         2 usage or environment error.
#
# Only bash, grep -P, sed and sort are used, so it runs on a fresh Debian 12 (no Python).
#
# Rules. Each names one way a run could stop being a function of its seed:
#   wall-clock           system_clock, steady_clock, high_resolution_clock (and the C++20
#                        utc/tai/gps/file clocks), gettimeofday, clock_gettime, timespec_get,
#                        time(nullptr|NULL|0), std::time(, ::time(, std::clock(,
#                        localtime/gmtime (and their _r/_s forms).
#   threads              std::thread, std::jthread, std::async, std::this_thread, std::mutex
#                        and the other std mutexes, locks, condition variables, semaphores,
#                        latches, barriers, promises/futures and std::atomic*, pthread_*,
#                        #include of <thread> <future> <mutex> <shared_mutex> <atomic>
#                        <condition_variable> <stop_token> <semaphore> <latch> <barrier>
#                        <pthread.h> <threads.h> <stdatomic.h>.
#   std-random           random_device, the std engines (mt19937, mt19937_64,
#                        default_random_engine, minstd_rand, ranlux*, knuth_b and the engine
#                        templates), every std *_distribution, generate_canonical,
#                        std::shuffle/random_shuffle/sample (their algorithms differ between
#                        standard libraries too), #include <random>, free calls of rand(),
#                        srand(), random(), srandom(), rand_r(), the *rand48 family,
#                        arc4random*, getrandom, getentropy, and "/dev/random" or
#                        "/dev/urandom" (the one rule that looks inside string literals).
#   environment          getenv, secure_getenv, setenv, unsetenv, putenv, clearenv, environ.
#   unordered-container  unordered_map, unordered_set, unordered_multimap, unordered_multiset.
#   static-state         thread_local anywhere, and `static` variables that are not const or
#                        constexpr (see the heuristic below).
#
# Comments are stripped before matching (// and /* */, including multi-line ones), and the
# contents of string and character literals are blanked, so prose never trips a rule. The
# allow marker below is looked for in the unstripped line. <chrono> and <ctime> themselves
# are allowed (durations and calendar arithmetic are harmless); reading a clock is not.
#
# Escape hatch: a line is not flagged (for any rule) if it, or the line just above it,
# contains `determinism-lint: allow(` followed by a non-empty reason, e.g.
#   // determinism-lint: allow(thread_local) Boost's context bookkeeping, not simulation state.
# A marker covers exactly those two lines: two banned lines under one marker need two markers.
#
# The static heuristic, and its limits. A candidate is any `static` that starts a line or
# follows `{`, `}`, `;` or an access specifier, optionally preceded by `inline`, `extern` or
# an [[attribute]]. After skipping `inline`, `volatile`, `mutable` and attributes, it is NOT
# flagged if what follows is `const`, `constexpr`, `consteval`, `thread_local` (that has its
# own rule) or `assert`, or if it declares a function: template arguments are removed, and
# the first of `(`, `=` or `{` in the declaration is a `(` whose contents do not start like
# an expression (a literal, `{`, `*`, `&`, `-`, `+`, true, false, nullptr), or it names an
# operator. Everything else is flagged: `static int n;`, `static Foo x = ...;`,
# `static std::map<...> m{...};`, `static void* p = nullptr;`, `static inline int n = 0;`,
# `static constinit int n = 0;`, `static int n(0);`, and static data members in a class.
# A declaration split over lines is joined with up to two following lines when the `static`
# line has none of `(`, `=`, `{`, `;`, so a return type alone on the `static` line is
# recognised. Every candidate on a line is checked, not only the first
# (`static int f() { return 0; } static int n;`). Known limits:
#   - `static Foo foo(bar);` (direct initialisation from a name) looks like a function
#     declaration and is not flagged; `static int n(0);` is.
#   - `static const T* p` is a mutable pointer to const data and is not flagged.
#   - Mutable globals declared without `static` (in anonymous namespaces, `extern`, or the
#     out-of-class definition `int Broker::count = 0;`) are not found: that needs a parser.
#     Neither is a `static` after anything but `{`, `}`, `;` or an access specifier
#     (`template <class T> static T x;`), nor a `static` alone on its line.
#   - Macros are not expanded; raw string literals are handled, line splices are not.
#   - rand(), srand(), random() and friends are flagged only as free calls: x.rand(),
#     p->rand(), Prng::rand() and a declaration such as `uint64_t random();` are not. A call
#     right after `>` (`a > rand()`) is missed, and a declaration with a pointer return type
#     (`int* rand();`) is flagged. Member calls sharing another banned name (`clock.time(0)`)
#     are not flagged either.
#   - One report per (line, rule); the reported text is the whole source line.
set -euo pipefail
export LC_ALL=C

if (( $# > 1 )) || [[ ${1:-} == -h || ${1:-} == --help ]]; then
  echo "usage: $0 [ROOT]" >&2
  exit 2
fi

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=${1:-$script_dir/..}
if [[ ! -d $root ]]; then
  echo "determinism-lint: no such directory: $root" >&2
  exit 2
fi
root=$(cd "$root" && pwd)

if ! echo x | grep -qP 'x' 2>/dev/null; then
  echo "determinism-lint: this grep has no -P (PCRE) support" >&2
  exit 2
fi

# --- rules (PCRE, matched against comment-free code with blanked literals) ---------------
rule_names=()
rule_patterns=()
add_rule() { rule_names+=("$1"); rule_patterns+=("$2"); }
# alt WORD...: sets `alt` to the words joined with `|`, for a PCRE alternation.
alt() { local IFS='|'; alt="$*"; }

alt system_clock steady_clock high_resolution_clock utc_clock tai_clock gps_clock file_clock
add_rule wall-clock "\\b($alt)\\b"
add_rule wall-clock '\b(gettimeofday|clock_gettime|timespec_get)\b'
add_rule wall-clock '(?<![\w.>])time\s*\(\s*(nullptr|NULL|0)\s*\)'
add_rule wall-clock '\bstd::time\s*\(|(?<![\w:])::time\s*\(|\bstd::clock\s*\('
add_rule wall-clock '\b(localtime|gmtime)(_r|_s)?\b'

alt thread jthread async this_thread \
    mutex recursive_mutex timed_mutex recursive_timed_mutex shared_mutex shared_timed_mutex \
    lock_guard unique_lock scoped_lock shared_lock call_once once_flag \
    condition_variable condition_variable_any counting_semaphore binary_semaphore latch \
    barrier stop_source stop_token promise future shared_future packaged_task 'atomic\w*'
add_rule threads "\\bstd::($alt)\\b"
add_rule threads '\bpthread_\w*|\bthis_thread::'
alt thread future mutex shared_mutex atomic condition_variable stop_token semaphore latch \
    barrier 'pthread\.h' 'threads\.h' 'stdatomic\.h'
add_rule threads "#\\s*include\\s*<($alt)>"

alt random_device mt19937 mt19937_64 default_random_engine 'minstd_rand0?' \
    'ranlux(24|48)(_base)?' knuth_b linear_congruential_engine mersenne_twister_engine \
    subtract_with_carry_engine discard_block_engine independent_bits_engine \
    shuffle_order_engine generate_canonical
add_rule std-random "\\b($alt)\\b"
alt uniform_int uniform_real bernoulli binomial negative_binomial geometric poisson \
    exponential gamma weibull extreme_value normal lognormal chi_squared cauchy fisher_f \
    student_t discrete piecewise_constant piecewise_linear
add_rule std-random "\\b($alt)_distribution\\b|\\bstd::\\w+_distribution\\b|\\w_distribution\\s*<"
add_rule std-random '\bstd::(ranges::)?(shuffle|random_shuffle|sample)\b'
add_rule std-random '#\s*include\s*<random>'
# A free call: std::rand(, ::rand(, or a bare rand( in expression position (after an
# operator, a bracket, a comma, `return` and the like, or at the start of a line). Not
# x.rand(, p->rand(, Prng::rand(, nor a declaration such as `uint64_t random();`.
call='(rand|srand|random|srandom|rand_r)\s*\('
alt return throw case else 'do' co_return co_yield co_await not and or
add_rule std-random "\\bstd::$call|(?<![\\w:])::$call"
add_rule std-random "(?:^|[^\\w\\s.>:])\\s*$call|\\b($alt)\\s+$call"
add_rule std-random '\b[a-z]?rand48(_r)?\b|\b(seed48|lcong48)\b|\barc4random\w*'
add_rule std-random '\b(getrandom|getentropy)\b'

alt secure_getenv getenv setenv unsetenv putenv clearenv
add_rule environment "\\b($alt)\\b|\\b_{0,2}environ\\b"

add_rule unordered-container '\bunordered_(map|set|multimap|multiset)\b'

add_rule static-state '\bthread_local\b'

# Matched against code with comments stripped but string literals kept.
string_rule_name=std-random
string_rule_pattern='/dev/u?random\b'

# --- comment and literal stripping --------------------------------------------------------
# Bash ERE (POSIX): inside brackets a backslash is literal, which is what these rely on.
re_plain='^[^"'"'"'/]+'
re_string='^"([^"\\]|\\.)*"'
re_char="^'([^'\\\\]|\\\\.[^']{0,8})'"
re_raw_open='^"([^()\\[:space:]]{0,16})\('
re_raw_prefix='(^|[^A-Za-z0-9_])(u8|u|U|L)?R$'
re_marker='determinism-lint: allow\([[:space:]]*[^)[:space:]]'

in_block=0    # inside a /* */ comment that started on an earlier line
raw_term=""   # inside a raw string literal: its terminator, e.g. )x"

# strip_line RAW: sets `code` (no comments, literals blanked) and `text` (no comments,
# literals kept). Carries in_block and raw_term across lines.
strip_line() {
  local rest=$1 m
  code="" text=""
  while [[ -n $rest ]]; do
    if [[ -n $raw_term ]]; then
      if [[ $rest == *"$raw_term"* ]]; then
        m=${rest%%"$raw_term"*}$raw_term
        text+=$m; code+='"'; rest=${rest:${#m}}; raw_term=""
        continue
      fi
      text+=$rest; break
    fi
    if (( in_block )); then
      if [[ $rest == *'*/'* ]]; then
        rest=${rest#*'*/'}; in_block=0; code+=" "; text+=" "
        continue
      fi
      break
    fi
    if [[ $rest =~ $re_plain ]]; then
      m=${BASH_REMATCH[0]}; code+=$m; text+=$m; rest=${rest:${#m}}
      continue
    fi
    case $rest in
      '//'*) break ;;
      '/*'*) in_block=1; rest=${rest:2} ;;
      '"'*)
        if [[ $code =~ $re_raw_prefix && $rest =~ $re_raw_open ]]; then
          raw_term=")${BASH_REMATCH[1]}\""
          m=${BASH_REMATCH[0]}; text+=$m; code+='"'; rest=${rest:${#m}}
        elif [[ $rest =~ $re_string ]]; then
          m=${BASH_REMATCH[0]}; text+=$m; code+='""'; rest=${rest:${#m}}
        else
          text+='"'; code+='"'; rest=${rest:1}
        fi ;;
      "'"*)
        if [[ $rest =~ $re_char ]]; then
          m=${BASH_REMATCH[0]}; text+=$m; code+="' '"; rest=${rest:${#m}}
        else
          text+="'"; code+="'"; rest=${rest:1}   # a digit separator: 1'000'000
        fi ;;
      *) text+=${rest:0:1}; code+=${rest:0:1}; rest=${rest:1} ;;
    esac
  done
}

# --- the static heuristic (see the header) ------------------------------------------------
re_static='(^|[{};]|(public|private|protected)[[:space:]]*:)[[:space:]]*(((inline|extern)[[:space:]]+|\[\[[^]]*\]\][[:space:]]*)*)static[[:space:]]+(.*)$'
re_skip_spec='^(inline|volatile|mutable|\[\[[^]]*\]\])[[:space:]]*(.*)$'
re_fine_start='^(const|constexpr|consteval|thread_local|assert)([^A-Za-z0-9_]|$)'
re_operator='(^|[^A-Za-z0-9_])operator([^A-Za-z0-9_]|$)'
re_template_args='<[^<>]*>'
re_first_punct='^[^(={]*([(={])(.*)$'
re_initializer='^[[:space:]]*([0-9"'"'"'{*&+-]|(true|false|nullptr)([^A-Za-z0-9_]|$))'

# static_verdict REST: REST is the text after `static`. Sets `verdict` to flag, fine or more
# (needs the next line to decide).
static_verdict() {
  local rest=$1 decl
  while [[ $rest =~ $re_skip_spec ]]; do rest=${BASH_REMATCH[2]}; done
  if [[ $rest =~ $re_fine_start ]]; then verdict=fine; return; fi
  decl=${rest%%;*}
  if [[ $decl =~ $re_operator ]]; then verdict=fine; return; fi
  while [[ $decl =~ $re_template_args ]]; do decl=${decl/"${BASH_REMATCH[0]}"/ }; done
  if [[ $decl =~ $re_first_punct ]]; then
    if [[ ${BASH_REMATCH[1]} == '(' && ! ${BASH_REMATCH[2]} =~ $re_initializer ]]; then
      verdict=fine
    else
      verdict=flag
    fi
  elif [[ $rest == *';'* ]]; then
    verdict=flag
  else
    verdict='more'
  fi
}

# --- scan ---------------------------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/determinism-lint.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

dirs=()
for d in sim models scenarios; do
  [[ -d $root/$d ]] && dirs+=("$d")
done
if (( ${#dirs[@]} == 0 )); then
  echo "determinism-lint: none of sim/, models/, scenarios/ exists under $root" >&2
  exit 2
fi

mapfile -d '' files < <(cd "$root" && find "${dirs[@]}" -type f \
  \( -name '*.h' -o -name '*.hpp' -o -name '*.cpp' -o -name '*.cc' \) -print0 | sort -z)

declare -A made_dirs=()  # mirror directories already created
declare -A allowed=()   # "file<TAB>line" -> 1 where the escape hatch applies
hits=()                 # "file<TAB>line<TAB>rule"

for rel in "${files[@]}"; do
  mapfile -t raw < "$root/$rel"
  raw=("${raw[@]%$'\r'}")
  in_block=0 raw_term=""
  codes=() texts=()
  for i in "${!raw[@]}"; do
    line=${raw[i]}
    # The common cases inlined (a function call per line is what makes bash slow): nothing
    # to strip, or only a // comment with no quote or slash before it.
    before=${line%%//*}
    if (( in_block )) || [[ -n $raw_term || $before == *[\"\'/]* ]]; then
      strip_line "$line"
      codes[i]=$code texts[i]=$text
    else
      codes[i]=$before texts[i]=$before
    fi
    if [[ $line == *determinism-lint:* && $line =~ $re_marker ]]; then
      allowed["$rel"$'\t'$((i + 1))]=1
      allowed["$rel"$'\t'$((i + 2))]=1
    fi
  done

  if [[ -z ${made_dirs["${rel%/*}"]:-} ]]; then
    mkdir -p "$tmp/code/${rel%/*}" "$tmp/text/${rel%/*}"
    made_dirs["${rel%/*}"]=1
  fi
  # One write per file: the same line numbers as the source, for grep below.
  IFS=$'\n'
  printf '%s\n' "${codes[*]}" > "$tmp/code/$rel"
  printf '%s\n' "${texts[*]}" > "$tmp/text/$rel"
  unset IFS

  for i in "${!codes[@]}"; do
    [[ ${codes[i]} == *static* ]] || continue
    line_rest=${codes[i]}
    # Every candidate `static` on the line, left to right: `static int f() {} static int n;`.
    while [[ $line_rest =~ $re_static ]]; do
      line_rest=${BASH_REMATCH[6]}
      rest=$line_rest
      static_verdict "$rest"
      for j in 1 2; do
        [[ $verdict == more ]] || break
        (( i + j < ${#codes[@]} )) || break
        rest+=" ${codes[i + j]}"
        static_verdict "$rest"
      done
      if [[ $verdict != fine ]]; then
        hits+=("$rel"$'\t'$((i + 1))$'\t'static-state)
        break
      fi
    done
  done
done

# grep_rule RULE PATTERN TREE: adds every matching line of the stripped TREE to hits.
grep_rule() {
  local rule=$1 pattern=$2 tree=$3 out="$tmp/grep.out" rc=0 file rest
  (cd "$tmp/$tree" && grep -rnHZP --binary-files=text -e "$pattern" -- .) > "$out" || rc=$?
  if (( rc > 1 )); then
    echo "determinism-lint: grep failed on rule $rule: $pattern" >&2
    exit 2
  fi
  while IFS= read -r -d '' file && IFS= read -r rest; do
    hits+=("${file#./}"$'\t'"${rest%%:*}"$'\t'"$rule")
  done < "$out"
}

if (( ${#files[@]} )); then
  for k in "${!rule_names[@]}"; do
    grep_rule "${rule_names[k]}" "${rule_patterns[k]}" code
  done
  grep_rule "$string_rule_name" "$string_rule_pattern" text
fi

violations=0
if (( ${#hits[@]} )); then
  while IFS=$'\t' read -r file line rule; do
    [[ -n ${allowed["$file"$'\t'$line]:-} ]] && continue
    text=$(sed -n "${line}{s/\r\$//;s/^[[:space:]]*//;p;q}" "$root/$file")
    echo "$file:$line: $rule: $text" >&2
    violations=$((violations + 1))
  done < <(printf '%s\n' "${hits[@]}" | sort -t $'\t' -u -k1,1 -k2,2n -k3,3)
fi

if (( violations )); then
  echo "determinism-lint: $violations violation(s)" >&2
  exit 1
fi
echo "determinism-lint: ${#files[@]} files clean"
