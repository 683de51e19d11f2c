// Swagger UI over this API's own OpenAPI. In a file of its own (the page's policy runs no
// inline script); validatorUrl null: Swagger UI would otherwise ask an outside validator.
window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
});
