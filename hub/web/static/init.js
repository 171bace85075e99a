// Starts GOV.UK Frontend's components on every page. It is a file, not an inline
// script, so the Content-Security-Policy can stay at script-src 'self'.
// https://frontend.design-system.service.gov.uk/import-javascript/
import { initAll } from "/static/govuk/govuk-frontend.min.js";

initAll();
