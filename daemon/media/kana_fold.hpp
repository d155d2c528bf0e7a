#pragma once
// The search key of a name: what the viewer compares a query with. The same
// folding as the viewer's JavaScript (String.prototype.normalize("NFKC"),
// hiragana -> katakana, no spaces, ASCII lower case) for the characters that
// occur in Japanese names: half-width katakana (with their voiced marks) become
// full-width, full-width ASCII becomes ASCII, hiragana becomes katakana, and
// spaces (U+0020, U+3000, tabs) go. The index holds the folded kana and kanji
// names, so the viewer folds only the query.
#include <string>
#include <string_view>

namespace medgw::media {

[[nodiscard]] std::string fold_for_search(std::string_view utf8);

}  // namespace medgw::media
