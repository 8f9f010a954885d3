/*
 * curl_client: a "legacy" program with a hard-coded provider URL, using
 * libcurl the ordinary way (system CAs, verification on).
 *
 *     curl_client [-u] [-c ADDR:PORT -a CAFILE] PROVIDER BODY
 *
 * PROVIDER is openai, anthropic or gemini; the URL, the credential (header,
 * or key= for gemini) and the other headers (Content-Type, User-Agent
 * legacy-app/1.0, anthropic-version) are hard-coded as a program that never
 * heard of base URLs would have them.
 * -u hands the URL over as a CURLU handle (CURLOPT_CURLU). -c connects to
 * ADDR:PORT instead of the provider's address (CURLOPT_CONNECT_TO, the name
 * and its certificate check unchanged) and -a trusts CAFILE: how the tests
 * reach a stand-in for the provider itself. Prints the
 * response body; exit status 0 when the transfer succeeded with HTTP 200.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int use_curlu = 0;
	const char *connect_to = NULL, *cafile = NULL;
	for (;;) {
		if (argc > 1 && strcmp(argv[1], "-u") == 0) {
			use_curlu = 1;
		} else if (argc > 2 && strcmp(argv[1], "-c") == 0) {
			connect_to = argv[2];
			argv++;
			argc--;
		} else if (argc > 2 && strcmp(argv[1], "-a") == 0) {
			cafile = argv[2];
			argv++;
			argc--;
		} else {
			break;
		}
		argv++;
		argc--;
	}
	if (argc != 3)
		return 2;
	const char *url, *auth, *extra = NULL;
	if (strcmp(argv[1], "openai") == 0) {
		url = "https://api.openai.com/v1/chat/completions";
		auth = "Authorization: Bearer sk-legacy-openai-key-0000111122223333";
	} else if (strcmp(argv[1], "anthropic") == 0) {
		url = "https://api.anthropic.com/v1/messages";
		auth = "x-api-key: sk-ant-legacy-key-4444555566667777";
		extra = "anthropic-version: 2023-06-01";
	} else if (strcmp(argv[1], "gemini") == 0) {
		url = "https://generativelanguage.googleapis.com/v1beta/models/"
		      "gemini-2.0-flash:generateContent?key=AIzaLegacyKey88889999";
		auth = NULL;	/* the key rides in the query */
	} else {
		return 2;
	}

	curl_global_init(CURL_GLOBAL_DEFAULT);
	CURL *h = curl_easy_init();
	struct curl_slist *headers = NULL;
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "User-Agent: legacy-app/1.0");
	if (auth)
		headers = curl_slist_append(headers, auth);
	if (extra)
		headers = curl_slist_append(headers, extra);
	CURLU *u = NULL;
	if (use_curlu) {
		u = curl_url();
		curl_url_set(u, CURLUPART_URL, url, 0);
		curl_easy_setopt(h, CURLOPT_CURLU, u);
	} else {
		curl_easy_setopt(h, CURLOPT_URL, url);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	struct curl_slist *redirect = NULL;
	if (connect_to) {
		char rule[300];
		snprintf(rule, sizeof(rule), "::%s", connect_to);
		redirect = curl_slist_append(NULL, rule);
		curl_easy_setopt(h, CURLOPT_CONNECT_TO, redirect);
	}
	if (cafile)
		curl_easy_setopt(h, CURLOPT_CAINFO, cafile);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, argv[2]);
	CURLcode rc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK)
		fprintf(stderr, "curl_client: %s\n", curl_easy_strerror(rc));
	curl_slist_free_all(headers);
	curl_slist_free_all(redirect);
	curl_easy_cleanup(h);
	if (u)
		curl_url_cleanup(u);
	curl_global_cleanup();
	return rc == CURLE_OK && status == 200 ? 0 : 1;
}
